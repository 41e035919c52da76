"""make run keeps a copy of anvil's state file that parses and puts it back when a kill during a
dump left the file cut (anvil would otherwise refuse to start on every restart)."""

from __future__ import annotations

from pathlib import Path

from scripts.run_local import keep_chain_state, repair_chain_state

STATE = b'{"block": {"number": "0x14"}, "accounts": {}}'


def test_a_state_that_parses_is_copied(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(STATE)
    assert keep_chain_state(state) is True
    assert (tmp_path / "state.json.good").read_bytes() == STATE


def test_a_cut_state_is_not_copied_over_the_good_one(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(STATE)
    keep_chain_state(state)
    state.write_bytes(STATE[:17])
    assert keep_chain_state(state) is False
    assert (tmp_path / "state.json.good").read_bytes() == STATE


def test_a_cut_or_empty_state_is_put_back_from_the_last_copy(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(STATE)
    keep_chain_state(state)
    state.write_bytes(b"")
    assert repair_chain_state(state) is True
    assert state.read_bytes() == STATE
    assert (tmp_path / "state.json.good").read_bytes() == STATE


def test_a_good_state_or_a_first_start_is_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert repair_chain_state(state) is False and not state.exists()
    state.write_bytes(STATE)
    assert repair_chain_state(state) is False
    assert state.read_bytes() == STATE


def test_a_cut_state_without_a_copy_stays_for_the_operator(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b"{")
    assert repair_chain_state(state) is False
    assert state.read_bytes() == b"{"
