"""The application factory: settings in, a FastAPI app out; the model and TTS are loaded once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ivr import __version__
from ivr.admin.console import STATIC_DIR
from ivr.admin.router import router as admin_router
from ivr.config import Settings
from ivr.deps import RuntimeDep
from ivr.drain import install_sigterm
from ivr.prometheus import Gauges, exposition
from ivr.rules.loader import RulesError
from ivr.runtime import Runtime, build_runtime, model_label
from ivr.speech.models import resolve_model
from ivr.speech.prompts import render_all
from ivr.speech.search import model_with_search
from ivr.speech.stt import VoskEngine
from ivr.speech.types import RecognizerFactory
from ivr.speech.warmup import warm_up_recognizers
from ivr.startup_report import announce, startup_summary
from ivr.store.retention import purge_on_schedule
from ivr.telephony import agent_leg, agent_page, fork, handover, media, ops, webhooks
from ivr.telephony.ops import Admin

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, recognizers: RecognizerFactory | None = None) -> FastAPI:
    """Build the app. ``recognizers`` replaces the Vosk engine (only for text-turn simulations without a model)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        t0 = time.perf_counter()
        factory = recognizers
        label = "scripted (text turns)"
        if factory is None:
            path = model_with_search(
                resolve_model(settings),
                settings.resolved_models_dir / "views",
                settings.decode_beam,
                settings.decode_max_active,
            )
            naive = settings.naive_decode
            factory = await asyncio.to_thread(
                VoskEngine, path, reuse=not naive, max_natives=None if naive else settings.recognizers
            )
            label = model_label(path)
        model_seconds = time.perf_counter() - t0
        runtime = await asyncio.to_thread(build_runtime, settings, factory, label)
        runtime.startup_seconds["model"] = model_seconds
        app.state.runtime = runtime
        rules = runtime.rulebook
        announce(
            startup_summary(
                settings,
                model=label,
                model_seconds=model_seconds,
                rules_version=rules.version.number,
                rules_count=len(rules.active.rules),
            )
        )
        watcher = asyncio.create_task(_watch_rules(runtime), name="rules-watcher")
        warming = asyncio.create_task(_warm_up(runtime), name="recogniser-warm-up")
        retention = asyncio.create_task(
            purge_on_schedule(runtime.writer, settings.retention_days), name="retention-purge"
        )
        alive = asyncio.create_task(_keep_alive(runtime), name="instance-heartbeat")
        claims = asyncio.create_task(_renew_claims(runtime), name="stream-claims")
        channel = runtime.rules_channel
        following = asyncio.create_task(
            channel.listen(runtime.take_published_rules, lambda: rules.version.sha256)
            if channel is not None
            else asyncio.sleep(0),
            name="rules-channel",
        )
        # Ahead of uvicorn's own SIGTERM handler, which would close every live stream with 1012 at once.
        restore_sigterm = install_sigterm(runtime.drain, settings.drain_timeout_s)
        try:
            yield
        finally:
            restore_sigterm()
            for task in (watcher, retention, warming, alive, claims, following):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(runtime.close)

    # The API description is for developers: off unless IVR_API_DOCS is set (it maps every route for a stranger).
    docs = settings.api_docs
    app = FastAPI(
        title="Warmline",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    if settings.trusted_proxies:
        # Only these peers may say who the client is; everyone else's X-Forwarded-For is ignored (the console's
        # login throttle counts per client address).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.include_router(webhooks.router)
    app.include_router(media.router)
    app.include_router(fork.router)
    app.include_router(ops.router)
    app.include_router(handover.router)
    app.include_router(agent_leg.router)
    app.include_router(agent_page.router)
    app.include_router(admin_router)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.get("/healthz", tags=["ops"])
    async def healthz(runtime: RuntimeDep) -> dict[str, object]:
        registry = runtime.registry
        return {
            "status": "ok",
            "model": runtime.model_name,
            "language": runtime.settings.language,
            "active_calls": registry.active_sessions,
            "live_recognizers": registry.live_recognizers,
            "tasks": len(asyncio.all_tasks()),
            "uptime_s": round(time.time() - runtime.started, 1),
        }

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> JSONResponse:
        """Whether a load balancer should send this instance new calls (liveness is /healthz)."""
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        if runtime.drain.active:
            body = {"status": "draining", "active_calls": runtime.registry.active_sessions}
            return JSONResponse(body, status_code=503)
        problems = readiness_problems(runtime)
        if problems:
            return JSONResponse({"status": "unready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready", "active_calls": runtime.registry.active_sessions})

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics(_: Admin, runtime: RuntimeDep) -> PlainTextResponse:
        """Prometheus text format (bearer IVR_ADMIN_TOKEN, as Prometheus' ``authorization`` sends it)."""
        engine = runtime.session_deps.recognizers
        gauges = Gauges(
            active_calls=lambda: runtime.registry.active_sessions,
            recognizers_in_use=lambda: engine.pool_stats()["in_use"] if isinstance(engine, VoskEngine) else 0,
            late_frames=lambda: runtime.metrics.late_frames,
            frames_sent=lambda: runtime.metrics.frames_sent,
            store_backlog=lambda: runtime.writer.backlog,
            store_oldest_unwritten_s=runtime.writer.oldest_unwritten_s,
            draining=lambda: int(runtime.drain.active),
        )
        body = exposition(
            gauges, runtime.counters, runtime.metrics.latency_histogram, runtime.metrics.understanding_histogram
        )
        return PlainTextResponse(body.decode(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/metrics.json", tags=["ops"])
    async def metrics_json(_: Admin, runtime: RuntimeDep) -> dict[str, object]:
        """Latency percentiles, recogniser real-time factor, late frames, memory: what the benchmark reads."""
        return {
            **runtime.metrics.snapshot(),
            "active_calls": runtime.registry.active_sessions,
            "rss_mb": _rss_mb(),
            "startup_s": runtime.startup_seconds,
            "tts_cache": dataclasses.asdict(runtime.synth.cache_stats),
            "recognizer_pool": _recognizer_pool(runtime),
            "decode_pool": {**runtime.pool.queued(), "overtakes": runtime.pool.overtakes},
            "store_writer": {**runtime.writer.stats.snapshot(), "backlog": runtime.writer.backlog},
        }

    return app


async def _warm_up(runtime: Runtime) -> None:
    """In the background: the server answers calls at once, and is at full speed a few seconds later.

    Every fixed prompt is rendered into the cache (calls then never wait for espeak-ng), and a few recognisers are
    warmed with speech (a lookahead model decodes a recogniser's first seconds several times slower).
    """
    settings = runtime.settings
    if settings.tts_cache:
        languages = dict.fromkeys([settings.language, settings.agent_language or settings.language])
        try:
            started = time.perf_counter()
            await render_all(runtime.synth, settings.grammars_dir, languages, settings.company_name)
            runtime.startup_seconds["prompt_render"] = round(time.perf_counter() - started, 3)
        except Exception:
            log.exception("pre-rendering the prompts failed; they will be rendered on first use")
    engine = runtime.session_deps.recognizers
    warm = settings.recognizers if settings.warm_recognizers is None else settings.warm_recognizers
    if not isinstance(engine, VoskEngine) or settings.naive_decode or warm <= 0:
        runtime.startup_seconds["recognizer_warm_up"] = 0.0  # nothing to warm: ready as it is
        return
    language = settings.language
    text = runtime.flows[language].say("greeting", {"company": settings.company_name}).text
    # Warmed on every decode thread at once: 16 in the time 8 took one after the other. Nothing is left to warm
    # after /readyz (warming the rest in the background, even at the lowest CPU priority, made the first call
    # after a start 4x slower: 118 ms against 26 ms).
    try:
        seconds = await warm_up_recognizers(
            engine, runtime.synth, text, language, warm, threads=settings.decode_workers
        )
    except Exception:
        log.exception("warming the recognisers failed; the first calls will decode more slowly")
        runtime.startup_seconds["recognizer_warm_up"] = -1.0  # ready all the same: slower beats refusing calls
        return
    runtime.startup_seconds["recognizer_warm_up"] = round(seconds, 3)


async def _keep_alive(runtime: Runtime) -> None:
    """Tell the store this server is alive, and close the calls of servers that are not (through the writer
    thread: the event loop never waits for the database)."""
    ownership = runtime.ownership
    beats = 0
    while True:
        await asyncio.sleep(runtime.settings.instance_heartbeat_s)
        runtime.writer.submit(lambda _store: ownership.heartbeat())
        beats += 1
        if beats % 3 == 0:
            runtime.writer.submit(lambda _store: ownership.close_orphaned())


async def _renew_claims(runtime: Runtime) -> None:
    """Renew this instance's claims on its calls' streams (shared live state): a claim that lapses means the
    instance is gone, and lets another take the call."""
    every = runtime.settings.stream_claim_s / 3
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(runtime.registry.renew_claims)
        except Exception as exc:
            log.warning("could not renew the stream claims (%s); retrying in %.0f s", exc, every)


#: an instance whose oldest unwritten change waited longer than this takes no new calls
READY_MAX_WRITE_DELAY_S = 5.0


def readiness_problems(runtime: Runtime) -> list[str]:
    """Why this instance should not take new calls now (empty: it should)."""
    problems = []
    if "recognizer_warm_up" not in runtime.startup_seconds:
        problems.append("warming up: prompts and recognisers are being prepared (the first caller would wait)")
    if runtime.registry.active_sessions >= runtime.settings.max_calls:
        problems.append(f"full: {runtime.registry.active_sessions} calls, the most this server takes (IVR_MAX_CALLS)")
    waited = runtime.writer.oldest_unwritten_s()
    if waited > READY_MAX_WRITE_DELAY_S:
        problems.append(
            f"database: {runtime.writer.backlog} change(s) unwritten, the oldest for {waited:.0f} s (retrying)"
        )
    return problems


def _recognizer_pool(runtime: Runtime) -> dict[str, int] | None:
    engine = runtime.session_deps.recognizers
    return engine.pool_stats() if isinstance(engine, VoskEngine) else None


async def _watch_rules(runtime: Runtime) -> None:
    """Supervisors edit the rules file; a valid change takes effect within seconds, an invalid one never does."""
    while True:
        await asyncio.sleep(runtime.settings.rules_poll_s)
        try:
            version = await asyncio.to_thread(runtime.rulebook.reload_if_changed)
        except RulesError as exc:
            log.error("rules file refused, previous rules stay active: %s", exc)
            continue
        if version is not None:
            log.info("rules version %s now active (%s)", version.number, version.sha256[:12])


def _rss_mb() -> float:
    """Resident memory of this process (Linux /proc; 0 elsewhere)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0
