"""Many instances, one service line: three real server processes behind a real HAProxy (round robin), live call
state in a real Redis, the store in a real PostgreSQL. Calls are driven through the load balancer with the Twilio
simulator, so a call's webhooks and its media stream land on different instances.

The recogniser is the text-turn one with its scripts in Redis (see ``shared_script_app``): what is tested here is
shared call state, and Dutch dialog cannot run through the only real model on this machine (Korean).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import signal
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from ivr.simulator.turns import CallerTurn, SilenceTurn, text_turn
from ivr.simulator.twilio import AgentBehaviour, SimulatedCall
from ivr.store.repository import Store
from ivr.transfer.links import sign_link
from tests.integration.cluster import ADMIN_TOKEN, Cluster
from tests.integration.console_helpers import SUPERVISOR, csrf_of
from tests.integration.server_process import AUTH_TOKEN, wait_for
from tests.integration.shared_script_app import script
from tests.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SELF_SERVICE = ["waar blijft mijn bestelling", "vier vijf een twee", "nee"]
TO_A_PERSON = ["waar blijft mijn bestelling", "vier vijf een twee", "ik wil een medewerker"]
NO_ANSWER = ["medewerker"]
#: asked for the order number, the caller fails once; then they think for a long while (the call stays live)
MID_DIALOG = ["waar blijft mijn bestelling", "geen idee"]


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    client = redis_server.client()
    client.flushdb()
    client.close()
    root = tmp_path_factory.mktemp("cluster")
    # Callers here think for minutes (line time) while instances restart: the no-input prompt is not under test.
    env = {"IVR_NO_INPUT_TIMEOUT_S": "600"}
    with Cluster(root, postgres_server.create_database(), redis_server.url, env=env).running() as running:
        yield running


@pytest.fixture
def shared(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    yield client
    client.close()


async def _call(
    cluster: Cluster,
    shared: redis.Redis,
    texts: list[str],
    extra: list[CallerTurn] | None = None,
    agent: AgentBehaviour = "accepts",
    call_sid: str | None = None,
) -> SimulatedCall:
    simulator = cluster.simulator()
    call_sid = call_sid or simulator.new_call_sid()
    script(shared, call_sid, texts)
    turns: list[CallerTurn] = [text_turn(text, "nl") for text in texts] + (extra or [])
    return await simulator.call(turns, call_sid=call_sid, agent=agent, offer_reply="1")


def _instances_that_served(cluster: Cluster, call_sid: str) -> set[str]:
    return {instance.name for instance in cluster.instances if call_sid in instance.logs()}


def _stream_holder(shared: redis.Redis, call_sid: str) -> str | None:
    holder = shared.get(f"warmline:call:{call_sid}:stream")
    return str(holder) if holder else None


def _pid_of(instance_id: str) -> int:
    match = re.search(r"-(\d+)-[0-9a-f]{8}$", instance_id)
    assert match, instance_id
    return int(match.group(1))


def _at_order_number_with_one_failure(shared: redis.Redis, call_sids: list[str]) -> bool:
    """Every call has said both its first lines and is being asked for its order number again."""
    for sid in call_sids:
        if shared.llen(f"test-script:{sid}") != 1 or not _stream_holder(shared, sid):
            return False
        progress = str(shared.hget(f"warmline:call:{sid}", "progress") or "")
        if '"step":"order_number"' not in progress or '"failure_reasons":["not_understood"]' not in progress:
            return False
    return True


async def test_twenty_calls_spread_over_three_instances_end_exactly_as_on_one(
    cluster: Cluster, shared: redis.Redis, postgres_server: PostgresServer
) -> None:
    kinds = ["self"] * 8 + ["person"] * 6 + ["no-answer"] * 6
    plans = {
        "self": (SELF_SERVICE, "accepts"),
        "person": (TO_A_PERSON, "accepts"),
        "no-answer": (NO_ANSWER, "no-answer"),
    }
    calls: list[SimulatedCall] = []
    for batch in (kinds[:10], kinds[10:]):  # ten at a time: 2 cores also run the simulator and HAProxy
        calls += await asyncio.gather(*(_call(cluster, shared, plans[k][0], agent=plans[k][1]) for k in batch))

    async with httpx.AsyncClient(timeout=10) as client:
        for kind, call in zip(kinds, calls, strict=True):
            assert call.streams == 1 and call.record is not None, call.call_sid
            assert call.record.outcome is not None
            callers = [e.text for e in call.record.events if e.kind == "caller"]
            assert callers == plans[kind][0], "every turn is in the record, whichever instance heard it"
            if kind == "self":
                assert call.record.outcome.kind == "hangup", call.record.outcome
                assert call.transfer is None
                prompts = [e.key for e in call.record.events if e.kind == "prompt"]
                assert "order_status" in prompts and prompts[-1] == "goodbye", prompts
                continue
            assert call.record.outcome.kind == "transfer" and call.transfer is not None
            assert call.dial_target() is not None
            if kind == "person":
                # The colleague's briefing was fetched, and its summary audio served, by whichever instance
                # HAProxy chose.
                assert call.agent_legs and call.agent_legs[0].heard[0][:4] == b"RIFF"
                assert call.queue_result == "bridged"
                assert "4 5 1 2" in call.transfer.summary
                link = sign_link(cluster.url, call.transfer.transfer_id, AUTH_TOKEN, 60)
                pages = [await client.get(link) for _ in range(3)]  # three requests: round robin over all
                assert all(page.status_code == 200 and call.transfer.summary in page.text for page in pages)
            else:
                assert call.callback_twiml is not None and "<Play>" in call.callback_twiml
                assert call.transfer.status == "unreachable"
                # its steps were written by whichever instances Twilio's webhooks reached, none lost
                steps = [step.kind for step in call.transfer.steps]
                assert steps[:3] == ["queued", "dialled", "no-answer"] and steps[-1] == "unreachable", steps
                assert [c.kind for c in call.transfer.callbacks] == ["callback"]

    spread = [len(_instances_that_served(cluster, call.call_sid)) for call in calls]
    # Round robin under concurrency: a short call's few logged requests (voice, stream, status) may all land on one
    # instance now and then; the test needs most calls truly spread, which they are.
    assert sum(n >= 2 for n in spread) >= 15, f"most calls were served by more than one instance: {spread}"
    assert sum(n == 3 for n in spread) >= 10, spread

    # The durable record in PostgreSQL is whole: every call ended, with all its turns and its transfer.
    await asyncio.sleep(1.5)  # the store writers on three instances
    store = Store.open(cluster.database_url)
    try:
        for kind, call in zip(kinds, calls, strict=True):
            stored = store.get_call(call.call_sid)
            assert stored is not None and stored.status == "completed", (call.call_sid, stored and stored.status)
            assert [t.text for t in stored.turns if t.kind == "caller"] == plans[kind][0]
            assert (stored.transfer is not None) == (kind != "self")
    finally:
        store.close()


async def test_a_second_stream_for_a_claimed_call_is_refused_whichever_instance_it_reaches(
    cluster: Cluster, shared: redis.Redis
) -> None:
    simulator = cluster.simulator()
    call_sid = simulator.new_call_sid()
    script(shared, call_sid, ["waar blijft mijn bestelling"])
    caller = asyncio.create_task(_call(cluster, shared, [], extra=[SilenceTurn(20)], call_sid=call_sid))
    await wait_for(lambda: _stream_holder(shared, call_sid) is not None, 30, "the first stream's claim")
    holder = _stream_holder(shared, call_sid)

    # Twilio opens a second stream for the same call (it happens): three tries, so it reaches every instance.
    for _ in range(3):
        await asyncio.sleep(1.1)  # a token names its expiry second: a later second makes a fresh, unspent one
        stream_url, parameters = await simulator.answer(call_sid)
        async with simulator.media_stream(stream_url, call_sid, parameters) as (ws, _send):
            with pytest.raises(Exception, match="1008"):
                await asyncio.wait_for(ws.recv(), 10)
    assert _stream_holder(shared, call_sid) == holder, "the first stream keeps the call"
    logs = "".join(instance.logs() for instance in cluster.instances)
    assert logs.count(f"call {call_sid}: refused media stream: the call already has a live media stream") == 3
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_killing_the_instance_that_holds_five_calls_resumes_each_elsewhere_at_its_step(
    cluster: Cluster, shared: redis.Redis
) -> None:
    simulator = cluster.simulator()
    sids = [simulator.new_call_sid() for _ in range(15)]
    tail: list[CallerTurn] = [SilenceTurn(25), text_turn("ik weet het echt niet", "nl")]
    for sid in sids:
        script(shared, sid, [*MID_DIALOG, "ik weet het echt niet"])
    tasks = [
        asyncio.create_task(
            _call(cluster, shared, [], extra=[*[text_turn(t, "nl") for t in MID_DIALOG], *tail], call_sid=sid)
        )
        for sid in sids
    ]
    await wait_for(lambda: _at_order_number_with_one_failure(shared, sids), 90, "every call mid-dialog")

    holders = {sid: _stream_holder(shared, sid) for sid in sids}
    by_instance: dict[str, list[str]] = {}
    for sid, holder in holders.items():
        assert holder is not None
        by_instance.setdefault(holder, []).append(sid)
    victim_id, victims = max(by_instance.items(), key=lambda item: len(item[1]))
    assert len(victims) >= 5, {k: len(v) for k, v in by_instance.items()}
    victim = cluster.index_of_pid(_pid_of(victim_id))
    cluster.signal(victim, signal.SIGKILL).wait(10)

    calls = dict(zip(sids, await asyncio.wait_for(asyncio.gather(*tasks), 180), strict=True))
    for sid in sids:
        call = calls[sid]
        assert call.record is not None
        events = call.record.events
        assert [e.text for e in events if e.kind == "caller"] == [*MID_DIALOG, "ik weet het echt niet"], sid
        # The failure count travelled: the third line is the second miss in a row, and a person takes over.
        assert call.transfer is not None and "repeated_failure" in (call.transfer.rule, call.transfer.reason)
        assert call.dial_target() is not None, "never dropped"
        if sid not in victims:
            assert call.streams == 1
            continue
        assert call.streams == 2, f"{sid}: resumed on a new stream"
        resumed_at = next(i for i, e in enumerate(events) if e.kind == "action" and e.text == "resumed")
        after = [e.key for e in events[resumed_at:] if e.kind == "prompt"]
        assert after[:2] == ["resumed", "ask_order_number"], after
        assert "greeting" not in after, "nobody was asked to start over"
        assert _stream_holder(shared, sid) in (None, *[h for h in by_instance if h != victim_id])
    gaps = [gap for sid in victims for gap in calls[sid].hand_over_gaps()]
    print(
        f"\nSIGKILL with {len(victims)} live calls: silence until the resumed stream spoke "
        f"p50 {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s (wall clock)"
    )
    await asyncio.to_thread(cluster.start, victim)  # back to three for the tests after this one


async def test_a_rolling_restart_of_every_instance_drops_no_call(cluster: Cluster, shared: redis.Redis) -> None:
    simulator = cluster.simulator(timeout_s=300)
    sids = [simulator.new_call_sid() for _ in range(10)]
    for sid in sids:
        script(shared, sid, SELF_SERVICE)
    # Each caller asks, then thinks until the restart is over (one silence per hand-over, as a hand-over ends the
    # turn in progress), so all ten are live through it; then they give the number and say goodbye.
    restarted = asyncio.Event()
    thinking: list[CallerTurn] = [SilenceTurn(500, until=restarted)] * 4
    turns: list[CallerTurn] = [
        text_turn(SELF_SERVICE[0], "nl"),
        *thinking,
        text_turn(SELF_SERVICE[1], "nl"),
        text_turn(SELF_SERVICE[2], "nl"),
    ]
    tasks = [asyncio.create_task(simulator.call(list(turns), call_sid=sid)) for sid in sids]
    await wait_for(
        lambda: all(shared.llen(f"test-script:{sid}") == 2 and _stream_holder(shared, sid) for sid in sids),
        60,
        "every call live, past its first line",
    )
    for index in range(len(cluster.instances)):
        assert not any(task.done() for task in tasks), "all ten calls are live while instances restart"
        began = time.monotonic()
        process = cluster.signal(index, signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0, "a drained instance exits 0"
        stopped = time.monotonic()
        await asyncio.to_thread(cluster.start, index)  # the callers' line clocks must not stop meanwhile
        print(
            f"\n{cluster.instances[index].name}: drained and stopped in {stopped - began:.1f} s, "
            f"ready again in {time.monotonic() - stopped:.1f} s"
        )
    restarted.set()

    calls = await asyncio.wait_for(asyncio.gather(*tasks), 300)
    gaps: list[float] = []
    for call in calls:
        assert call.record is not None and call.record.outcome is not None, call.call_sid
        assert call.record.outcome.kind == "hangup", f"{call.call_sid}: finished their own business"
        assert [e.text for e in call.record.events if e.kind == "caller"] == SELF_SERVICE
        assert call.dial_target() is None, "nobody needed a person for it"
        assert "greeting" not in [e.key for e in call.record.events if e.kind == "prompt"][1:]
        gaps += call.hand_over_gaps()
    handed = sum(call.streams > 1 for call in calls)
    assert handed >= 3, "the restart moved calls between instances"
    # Each stopping instance closed only calls nobody carried on, and each starting one marked none of the live
    # calls it found of instances that had gone: every call ended completed, whole, in PostgreSQL.
    await asyncio.sleep(1.5)
    store = Store.open(cluster.database_url)
    try:
        for call in calls:
            stored = store.get_call(call.call_sid)
            assert stored is not None and stored.status == "completed", (call.call_sid, stored and stored.status)
            assert [t.text for t in stored.turns if t.kind == "caller"] == SELF_SERVICE
    finally:
        store.close()
    print(
        f"\nrolling restart: {handed} of 10 calls moved ({len(gaps)} hand-overs); silence heard during a hand-over "
        f"p50 {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s (wall clock)"
    )


def _finished_calls(cluster: Cluster) -> float:
    """``warmline_calls_total`` summed over the instances, each read with the Prometheus text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for instance in cluster.instances:
        response = httpx.get(f"{instance.url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
        assert response.status_code == 200
        families = {family.name: family for family in text_string_to_metric_families(response.text)}
        assert {"warmline_active_calls", "warmline_draining", "warmline_turn_latency_seconds"} <= set(families)
        total += sum(sample.value for sample in families["warmline_calls"].samples if sample.name.endswith("_total"))
    return total


async def test_the_instances_metrics_parse_and_count_every_call_once(cluster: Cluster, shared: redis.Redis) -> None:
    before = await asyncio.to_thread(_finished_calls, cluster)
    await asyncio.gather(*(_call(cluster, shared, SELF_SERVICE) for _ in range(3)))
    assert await asyncio.to_thread(_finished_calls, cluster) == before + 3


@pytest.fixture(scope="module")
def supervisor(cluster: Cluster) -> tuple[str, str]:
    store = Store.open(cluster.database_url)
    try:
        store.add_user(*SUPERVISOR, role="supervisor")
    finally:
        store.close()
    return SUPERVISOR


def _log_in(client: httpx.Client, user: tuple[str, str]) -> str:
    """Through the load balancer (one session secret for all instances, as deploy/compose.yaml sets it)."""
    form = client.get("/admin/login")
    data = {"username": user[0], "password": user[1], "csrf_token": csrf_of(form.text)}
    response = client.post("/admin/login", data=data)
    assert response.status_code == 200 and "Transfer rules" in response.text, response.text[:300]
    return csrf_of(client.get("/admin/rules").text)


async def test_the_console_plays_a_calls_summary_whichever_instance_serves_it(
    cluster: Cluster, shared: redis.Redis, supervisor: tuple[str, str]
) -> None:
    call = await _call(cluster, shared, TO_A_PERSON)
    assert call.transfer is not None
    await asyncio.sleep(1.0)  # the store writer

    def fetch() -> list[bytes]:
        with httpx.Client(base_url=cluster.url, timeout=20, follow_redirects=True) as client:
            _log_in(client, supervisor)
            page = client.get(f"/admin/calls/{call.call_sid}")
            assert page.status_code == 200 and "summary.wav" in page.text
            # three requests, round robin: at least two reach an instance that did not render the summary
            return [client.get(f"/admin/calls/{call.call_sid}/summary.wav").content for _ in range(3)]

    bodies = await asyncio.to_thread(fetch)
    assert all(body[:4] == b"RIFF" for body in bodies)
    assert len(set(bodies)) == 1, "the same text renders the same audio on every instance"


def test_a_supervisor_publishing_rules_through_any_instance_changes_them_on_all(
    cluster: Cluster, supervisor: tuple[str, str]
) -> None:
    original = (cluster.instances[0].data_dir / "rules.yaml").read_text(encoding="utf-8")
    draft = original.replace("target: fraudeteam", "target: klachten", 1)
    assert draft != original
    # Through the load balancer: the login, the form and the publish land on different instances.
    with httpx.Client(base_url=cluster.url, timeout=20, follow_redirects=True) as client:
        csrf = _log_in(client, supervisor)
        data = {"text": draft, "note": "via any instance", "csrf_token": csrf, "confirm": "yes"}
        published = client.post("/admin/rules/publish", data=data)
        assert published.status_code == 200 and "published and active" in published.text, published.text[:300]

    wanted = hashlib.sha256(draft.encode("utf-8")).hexdigest()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def everywhere() -> bool:
        shas = [httpx.get(f"{i.url}/ops/rules", headers=headers, timeout=5).json()["sha256"] for i in cluster.instances]
        return all(sha == wanted for sha in shas)

    deadline = time.monotonic() + 10
    while not everywhere():
        assert time.monotonic() < deadline, "every instance runs the published rules within seconds"
        time.sleep(0.1)
    for instance in cluster.instances:
        assert (instance.data_dir / "rules.yaml").read_text(encoding="utf-8") == draft
