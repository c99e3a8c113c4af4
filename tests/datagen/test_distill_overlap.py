"""The local engine overlaps grading of earlier batches with generation, keeping batch order."""

from __future__ import annotations

import threading
import time

from cotforge.datagen.distill import LocalEngine


class FakeWorker:
    def __init__(self):
        self.generated_on: list[str] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def generate_batch(self, batch):
        self.generated_on.append(threading.current_thread().name)
        return batch

    def grade_and_build(self, batch):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(0.05 if batch[0] % 2 == 0 else 0.0)  # even batches are slow: results must not reorder
        with self.lock:
            self.active -= 1
        return batch

    def close(self):
        pass


def test_results_keep_batch_order_and_generation_stays_on_the_caller_thread():
    worker = FakeWorker()
    batches = [[i, i] for i in range(10)]
    out = list(LocalEngine(worker, overlap=3).map(iter(batches)))
    assert out == batches
    assert set(worker.generated_on) == {threading.current_thread().name}
    assert worker.max_active > 1  # grading really overlapped


def test_overlap_1_is_strictly_sequential():
    worker = FakeWorker()
    assert list(LocalEngine(worker, overlap=1).map(iter([[0], [1], [2]]))) == [[0], [1], [2]]
    assert worker.max_active == 1


class ConcurrentBackend:
    concurrent_calls = True
    max_concurrency = 4


class StragglerWorker(FakeWorker):
    """Generation of batch 0 is a straggler; the rest are quick. Counts generations in flight."""

    def __init__(self, backend):
        super().__init__()
        self.generator = backend
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[int] = []
        self.straggling = False
        self.started_while_straggling = 0

    def generate_batch(self, batch):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.started.append(batch[0])
            self.started_while_straggling += self.straggling
            self.straggling = self.straggling or batch[0] == 0
        time.sleep(0.3 if batch[0] == 0 else 0.01)
        with self.lock:
            self.in_flight -= 1
            self.straggling = self.straggling and batch[0] != 0
        return batch


def test_a_concurrent_backend_keeps_its_concurrency_busy_past_a_straggler():
    worker = StragglerWorker(ConcurrentBackend())
    batches = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    engine = LocalEngine(worker, overlap=2)
    assert engine.generation_slots() == 4
    out = list(engine.map(iter(batches)))
    assert out == [[i] for i in range(12)]  # one prompt per call, in prompt order, whatever finished first
    assert worker.max_in_flight == 4  # up to max_concurrency requests at once, never more
    # while batch 0 straggled, later batches kept the other slots busy
    assert worker.started_while_straggling >= 3


def test_a_backend_without_concurrent_calls_generates_one_batch_at_a_time():
    class Plain:
        max_concurrency = 64

    worker = StragglerWorker(Plain())
    assert list(LocalEngine(worker, overlap=3).map(iter([[i] for i in range(5)]))) == [[i] for i in range(5)]
    assert worker.max_in_flight == 1


def test_default_keeps_several_batches_per_pool_worker_in_grading():
    # one slow batch must not leave the verifier pool idle: by default 4 batches per worker grade at once
    from cotforge.verifiers.pool import grading_overlap

    class Worker(FakeWorker):
        class grader:  # noqa: N801 - stands in for the distill Grader's pool size
            workers = 2

        def grade_and_build(self, batch):
            out = super().grade_and_build(batch)
            time.sleep(0.02)
            return out

    assert grading_overlap(2) == 8 and grading_overlap(1, floor=3) == 4 and grading_overlap(64) == 16
    # no pool size given: the default pool's, one worker per core this process may use
    from cotforge.verifiers.pool import default_pool

    assert grading_overlap() == max(2, min(16, 4 * default_pool().workers))
    worker = Worker()
    engine = LocalEngine(worker)
    assert engine.overlap == 8
    assert list(engine.map(iter([[i] for i in range(20)]))) == [[i] for i in range(20)]
    assert worker.max_active > 3
