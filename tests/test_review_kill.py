"""SIGKILL of the review service in the middle of overrides, 10 times under load (8 reviewers' clients):
no committed action is lost, no case is half-written, and the audit file and the database agree."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import threading
import time

import pytest
import requests

from pipeline.local import processes
from pipeline.local.review import start_review, stop_review
from tests.postgres import Postgres

TOKEN = "k" * 32
ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
KILLS, CLIENTS, CASES = 10, 8, 1600


def seed(review, rows, first=0):
    for start in range(first, first + CASES, 150):
        lines = [{"request_id": f"kill-{i}", "caller": "applicant", "row": ROW, "decision": "rejected",
                  "probability": 0.45} for i in range(start, min(start + 150, first + CASES))]  # fmt: skip
        response = requests.post(review.url + "/api/intake", json={"lines": lines},
                                 headers={"Authorization": "Bearer " + TOKEN}, timeout=60)  # fmt: skip
        assert response.status_code == 200, response.text
    return [r[0] for r in rows("SELECT id FROM cases WHERE state = 'open' ORDER BY id")]


def overrides(review, todo, confirmed, stop):
    """A reviewer's client: override case after case; 200s are recorded, connection errors expected."""
    session = requests.Session()
    while not stop.is_set():
        try:
            case_id = todo.get_nowait()
        except queue.Empty:
            return
        try:
            response = session.post(f"{review.url}/api/cases/{case_id}/decision", headers=review.headers(), timeout=30,
                                    json={"action": "override", "reason": f"override {case_id}"})  # fmt: skip
        except requests.RequestException:  # killed mid-request: closed or not, the checks below decide;
            todo.put(case_id)  # asked again after the restart (a 409 if it was committed)
            return
        if response.status_code == 200:
            confirmed.append((case_id, response.json()["action_id"]))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sigkill_mid_override_loses_no_committed_action_and_leaves_no_half_written_case(tmp_path, database):
    server = Postgres() if database == "postgresql" else None
    env = {"LOAN_CALLER_TOKEN": TOKEN, **({"LOAN_REVIEW_DB": server.url} if server else {})}
    try:
        review = start_review(tmp_path, env=env)
        rows = server.rows if server else lambda query: sqlite3.connect(review.db_url[10:]).execute(query).fetchall()
        check_after_kills(review, rows, env)
    finally:
        if server:
            server.stop()


def check_after_kills(review, rows, env):
    rng = random.Random(0)
    confirmed, kills = [], 0
    try:
        todo, seeded = queue.Queue(), 0
        while kills < KILLS:
            if todo.qsize() < CASES // 4:  # an idle machine overrides faster: top the queue up
                for case_id in seed(review, rows, seeded):
                    todo.put(case_id)  # a case still open from before is asked twice: a 409, not counted
                seeded += CASES
            stop = threading.Event()
            clients = [threading.Thread(target=overrides, args=(review, todo, confirmed, stop)) for _ in range(CLIENTS)]
            for client in clients:
                client.start()
            time.sleep(rng.uniform(0.3, 1.2))  # decisions in flight in every client
            os.killpg(review.pid, signal.SIGKILL)
            kills += 1
            gone = lambda pid=review.pid: not processes.alive(pid) and not processes.group_alive(pid)  # noqa: E731
            processes.wait_until(gone, 30, what="the killed group to exit")  # alive() reaps our child
            stop.set()
            for client in clients:
                client.join(60)
            review = start_review(review.directory, port=review.port, env=env)
        assert todo.qsize() > 0, "the load ran out of cases before the last kill: raise CASES"
    finally:
        stop_review(review)  # a graceful stop: the outbox is exported at the next start anyway

    if review.db_url.startswith("sqlite"):
        assert rows("PRAGMA integrity_check") == [("ok",)]
    cases = {r[0]: r[1:] for r in rows("SELECT id, state, final, reviewer, reason, closed FROM cases")}
    decided = {}
    for case_id, line in rows("SELECT case_id, line FROM actions WHERE kind = 'decided'"):
        decided.setdefault(case_id, []).append(json.loads(line))
    # no half-written case: closed with every field and exactly one decision line, or open with none
    for case_id, (state, final, reviewer, reason, closed) in cases.items():
        lines = decided.get(case_id, [])
        if state == "closed":
            assert None not in (final, reviewer, reason, closed) and len(lines) == 1, case_id
            assert (lines[0]["decision"], lines[0]["reason"]) == (final, reason) == ("approved", f"override {case_id}")
        else:
            assert (final, reviewer, reason, closed, lines) == (None, None, None, None, []), case_id
    # every override a client saw committed is in the database, with the action id it was told
    for case_id, action_id in confirmed:
        assert cases[case_id][0] == "closed" and decided[case_id][0]["action_id"] == action_id
    # the audit file holds every committed action once or more (re-exported after a kill), nothing else;
    # a line torn by a kill stands alone and is not counted
    written, torn = {}, 0
    with open(review.audit_log) as f:
        for text in f:
            try:
                line = json.loads(text)
            except ValueError:
                torn += 1
                continue
            assert written.setdefault(line["action_id"], line) == line
    actions = {r[0]: json.loads(r[1]) for r in rows("SELECT id, line FROM actions")}
    assert written == actions and torn <= KILLS
    assert rows("SELECT COUNT(*) FROM actions WHERE exported = 0")[0][0] == 0
    closed = sum(1 for c in cases.values() if c[0] == "closed")
    print(f"{KILLS} kills, {closed} cases closed, {len(confirmed)} confirmed to clients, {torn} torn audit lines")
