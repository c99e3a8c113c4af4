"""``--engine ray``: each generation batch split across Ray actors, one backend in each (one vLLM
replica per GPU with ``gpus_per_worker=1``), as ``cotforge distill --engine ray`` does.

:class:`RayGenerator` is itself a generator (the backend protocol): ``generate`` cuts the requests
into one contiguous slice per actor, runs the slices concurrently and joins the results in
request order. Sample j of a question depends only on (seed, question id, j), so the rows are the
same whichever actor drew them, and grading, shards and resumption work unchanged in the driver.
Tensor/data-parallel options of vLLM pass through ``backend_options`` to every actor's backend.
"""

from __future__ import annotations

from typing import Any

from cotforge.errors import UsageError, require


class _Actor:
    def __init__(self, backend: str, model: str, options: dict[str, Any]):
        from cotforge.evals.runner import build_generator_factory

        self.generator = build_generator_factory(model, backend, options)()

    def generate(self, requests: list[Any], params: Any) -> list[list[Any]]:
        return self.generator.generate(requests, params)

    def close(self) -> None:
        close = getattr(self.generator, "close", None)
        if close:
            close()


class RayGenerator:
    name = "ray"

    def __init__(self, backend: str, model: str, options: dict[str, Any], *, workers: int, address: str | None = None,
                 cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0, num_cpus: int | None = None):
        if not isinstance(workers, int) or workers < 1:
            raise UsageError(f"--workers {workers!r}: must be an integer >= 1")
        ray = require("ray", "ray", "--engine ray")
        self.ray, self.model = ray, model
        self._owns_cluster = False
        if not ray.is_initialized():
            init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address:
                init["address"] = address
            else:
                init["num_cpus"] = num_cpus or max(1, int(round(workers * cpus_per_worker)))
                init["runtime_env"] = {"env_vars": {"TOKENIZERS_PARALLELISM": "false"}}
            ray.init(**init)
            self._owns_cluster = True
        actor = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)(_Actor)
        self.actors = [actor.remote(backend, model, options) for _ in range(workers)]

    def generate(self, requests: list[Any], params: Any) -> list[list[Any]]:
        requests = list(requests)
        if not requests:
            return []
        k = len(self.actors)
        size = -(-len(requests) // k)
        refs = [a.generate.remote(requests[i * size:(i + 1) * size], params)
                for i, a in enumerate(self.actors) if requests[i * size:(i + 1) * size]]
        out: list[list[Any]] = []
        for part in self.ray.get(refs):  # an actor's exception surfaces here and stops the run
            out.extend(part)
        return out

    def close(self) -> None:
        try:
            self.ray.get([a.close.remote() for a in self.actors], timeout=60)
        except Exception:  # pragma: no cover - a dead actor has nothing left to close
            pass
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self._owns_cluster:
            self.ray.shutdown()
