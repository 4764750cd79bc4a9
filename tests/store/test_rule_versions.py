"""Every rules text the RuleBook accepts is also a version in the store, which the console's history reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import REPO_ROOT
from ivr.rules.book import RuleBook
from ivr.rules.loader import RulesError
from ivr.store.repository import Store


def _book(path: Path, data_dir: Path, store: Store) -> RuleBook:
    return RuleBook(
        path,
        data_dir,
        on_accept=lambda version, text: store.save_rule_version(
            text, author="rules file", source="file", note=f"file version {version.number}", dedupe=True
        ),
    )


def test_accepted_rules_texts_become_store_versions_and_broken_ones_do_not(store: Store, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    original = (REPO_ROOT / "rules.yaml").read_text(encoding="utf-8")
    rules.write_text(original, encoding="utf-8")
    book = _book(rules, tmp_path / "data", store)

    changed = original + "\n# boze bellers eerst\n"
    rules.write_text(changed, encoding="utf-8")
    book.reload()
    rules.write_text("rules: [ this is not yaml", encoding="utf-8")
    with pytest.raises(RulesError):
        book.reload()

    versions = store.list_rule_versions()
    assert [v.text for v in versions] == [changed, original]
    assert {v.source for v in versions} == {"file"}


def test_a_restart_with_the_same_file_adds_no_version(store: Store, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((REPO_ROOT / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    _book(rules, tmp_path / "data", store)
    _book(rules, tmp_path / "data", store)
    assert len(store.list_rule_versions()) == 1


def test_a_store_that_fails_never_costs_the_rules_their_reload(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((REPO_ROOT / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")

    def broken_store(*_: object) -> None:
        raise OSError("disk full")

    book = RuleBook(rules, tmp_path / "data", on_accept=broken_store)
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# nieuw\n", encoding="utf-8")
    assert book.reload().number == 2
