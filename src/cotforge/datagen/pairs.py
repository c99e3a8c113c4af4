"""DPO pairs from verified rollouts (``cotforge pairs``).

For each prompt of one or more ``all`` datasets (``cotforge distill`` output, or Parquet/JSONL
files with its columns): chosen = a correct completion, rejected = an incorrect one for the same
prompt (Phi-4-mini-reasoning's rollout preference stage). Rows are TRL's conversational preference
format - ``prompt`` (messages), ``chosen`` and ``rejected`` (one assistant message each) - plus the
provenance of both sides.

Strategies (the order in which candidate pairs are taken, up to ``max_per_prompt``):

- ``random``: a seeded shuffle of all (correct, incorrect) combinations;
- ``shortest_longest``: the shortest correct against the longest incorrect, then the next
  shortest against the next longest, ... (rewards concise correct answers);
- ``margin``: the largest length difference first, whichever side is longer.

Lengths: one unit per comparison - completion tokens when both sides have a token count from
their backend, characters for both otherwise (a chosen side without counts is never compared with
a rejected side in tokens). Within one prompt, candidates are ranked in tokens only when every
candidate has a count. ``chosen_tokens`` / ``rejected_tokens`` hold the counts as reported (-1:
none) and ``length_margin`` is rejected minus chosen in the pair's unit, so the unit of a row is
"tokens" exactly when both counts are >= 0. Identical
completions on one side count once, so a pair never repeats; the first pass takes pairs that reuse
neither side, a second pass (``reuse=True``) fills the cap with combinations that reuse one.

Scale: completions are first read without their text (DuckDB computes length and a hash), pairs are
chosen from that, and only the chosen texts are fetched - a 2M-row ``all`` fits in memory this way.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa

from cotforge.errors import UsageError
from cotforge.records import PAIRS_SCHEMA

FAMILY = "pairs"
GENERATOR_VERSION = "1.0.0"
STRATEGIES = ("random", "shortest_longest", "margin")
REQUIRED_COLUMNS = ("id", "prompt_id", "prompt", "completion", "status", "finish_reason")
OPTIONAL_COLUMNS = {
    "completion_tokens": "-1", "domain": "NULL", "answer": "NULL", "model": "NULL", "verifier": "NULL",
    "verifier_version": "NULL", "score": "NULL", "prompt_index": "NULL", "sample_index": "NULL",
}


@dataclass(frozen=True)
class PairsConfig:
    strategy: str = "shortest_longest"
    max_per_prompt: int = 1
    seed: int = 0
    rejected_statuses: tuple[str, ...] = ("incorrect",)
    reuse: bool = True
    min_margin: int = 0  # minimum |length difference| in the pair's unit (tokens, or characters)

    def validate(self) -> None:
        from cotforge.verifiers.base import Status

        if self.strategy not in STRATEGIES:
            raise UsageError(f"--strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if self.max_per_prompt < 1:
            raise UsageError(f"--max-per-prompt {self.max_per_prompt}: must be >= 1")
        if self.min_margin < 0:
            raise UsageError(f"--min-margin {self.min_margin}: must be >= 0")
        allowed = {s.value for s in Status} - {"correct"}
        bad = [s for s in self.rejected_statuses if s not in allowed]
        if bad or not self.rejected_statuses:
            raise UsageError(f"--rejected-status {','.join(self.rejected_statuses)!r}: choose from {', '.join(sorted(allowed))}")

    def resolved(self) -> dict[str, Any]:
        d = asdict(self)
        d["rejected_statuses"] = list(self.rejected_statuses)
        d["generator_version"] = GENERATOR_VERSION
        return d


# ------------------------------------------------------------------------------------------ reading


def _quote(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def rollout_files(inputs: Sequence[str | Path]) -> tuple[list[Path], list[dict[str, Any]]]:
    """Parquet/JSONL files of the given rollout inputs and their manifest records.

    A cotforge dataset folder contributes its ``all/train`` shards (a distill dataset).
    """
    from cotforge.datagen.inputs import open_input
    from cotforge.store import layout
    from cotforge.store.manifest import manifest_shards, read_manifest

    files: list[Path] = []
    records: list[dict[str, Any]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir() and (path / layout.MANIFEST).is_file():
            try:
                shards = manifest_shards(read_manifest(path)).get(layout.split_key("all", "train"))
            except ValueError as exc:
                raise UsageError(f"--input {item}: {exc}") from None
            if shards is None:
                raise UsageError(f"--input {item}: not a distill dataset (no `all` config)")
            src = open_input(path, config="all", split="train")
            files += [path / s.path for s in shards]
        elif path.is_file() and path.name.lower().endswith((".parquet", ".jsonl", ".jsonl.gz", ".json")):
            src = open_input(path)
            files.append(path)
        else:
            raise UsageError(f"--input {item}: expected a distill dataset folder or a Parquet/JSONL file of rollouts")
        missing = [c for c in REQUIRED_COLUMNS if c not in src.columns]
        if missing:
            raise UsageError(f"--input {item}: missing column(s) {', '.join(missing)}; pairs need a distill `all` "
                             f"dataset (columns: {', '.join(src.columns)})")
        records.append(src.record)
    return files, records


def _relation(con, files: list[Path]) -> list[str]:
    """Create the view ``rollouts`` over all input files; returns its columns."""
    parquet = [f for f in files if f.name.lower().endswith(".parquet")]
    jsonl = [f for f in files if not f.name.lower().endswith(".parquet")]
    parts = []
    if parquet:
        parts.append(f"SELECT * FROM read_parquet([{', '.join(_quote(f) for f in parquet)}], union_by_name = true)")
    for f in jsonl:
        parts.append(f"SELECT * FROM read_json_auto({_quote(f)}, format = 'newline_delimited')")
    con.execute("CREATE OR REPLACE VIEW raw_rollouts AS " + " UNION ALL BY NAME ".join(parts))
    columns = [r[0] for r in con.execute("DESCRIBE raw_rollouts").fetchall()]
    select = [c for c in REQUIRED_COLUMNS]
    for col, default in OPTIONAL_COLUMNS.items():
        select.append(col if col in columns else f"{default} AS {col}")
    con.execute(f"CREATE OR REPLACE VIEW rollouts AS SELECT {', '.join(select)} FROM raw_rollouts")
    return columns


@dataclass
class _Side:
    id: str
    tokens: int  # completion tokens as the backend reported them; -1: none
    chars: int
    text_hash: str
    status: str
    model: str | None
    score: float | None
    length: int = 0  # what this prompt's ranking compares: tokens if every candidate has them, else chars


def pair_unit(chosen: _Side, rejected: _Side) -> str:
    """The unit a pair's lengths are compared in: tokens only when both sides have a count."""
    return "tokens" if chosen.tokens >= 0 and rejected.tokens >= 0 else "characters"


def pair_lengths(chosen: _Side, rejected: _Side) -> tuple[str, int, int]:
    """(unit, chosen length, rejected length) in the pair's unit."""
    unit = pair_unit(chosen, rejected)
    if unit == "tokens":
        return unit, chosen.tokens, rejected.tokens
    return unit, chosen.chars, rejected.chars


def pair_margin(chosen: _Side, rejected: _Side) -> int:
    """Rejected minus chosen length, in the pair's unit."""
    _, c, r = pair_lengths(chosen, rejected)
    return r - c


@dataclass
class PairPlan:
    """The chosen pairs (without texts) and what the selection saw."""

    pairs: list[dict[str, Any]] = field(default_factory=list)
    prompts: int = 0
    prompts_with_pairs: int = 0
    no_correct: int = 0
    no_rejected: int = 0
    neither: int = 0
    below_margin: int = 0
    duplicates: int = 0


def _ordered_candidates(chosen: list[_Side], rejected: list[_Side], cfg: PairsConfig, prompt_id: str) -> list[tuple[int, int]]:
    combos = [(i, j) for i in range(len(chosen)) for j in range(len(rejected))]
    if cfg.strategy == "random":
        rng = random.Random(f"{cfg.seed}\x00{prompt_id}")
        rng.shuffle(combos)
        return combos
    if cfg.strategy == "shortest_longest":
        c_rank = {i: r for r, i in enumerate(sorted(range(len(chosen)), key=lambda i: (chosen[i].length, chosen[i].id)))}
        r_rank = {j: r for r, j in enumerate(sorted(range(len(rejected)), key=lambda j: (-rejected[j].length, rejected[j].id)))}
        return sorted(combos, key=lambda ij: (c_rank[ij[0]] + r_rank[ij[1]], c_rank[ij[0]]))
    return sorted(combos, key=lambda ij: (-abs(pair_margin(chosen[ij[0]], rejected[ij[1]])), chosen[ij[0]].id, rejected[ij[1]].id))


def select_pairs(chosen: list[_Side], rejected: list[_Side], cfg: PairsConfig, prompt_id: str) -> tuple[list[tuple[_Side, _Side]], int]:
    """Pairs for one prompt (sides already deduplicated by text); returns (pairs, combos below the margin)."""
    order = _ordered_candidates(chosen, rejected, cfg, prompt_id)
    ok = [(i, j) for i, j in order if abs(pair_margin(chosen[i], rejected[j])) >= cfg.min_margin]
    below = len(order) - len(ok)
    taken: list[tuple[int, int]] = []
    used_c: set[int] = set()
    used_r: set[int] = set()
    for i, j in ok:  # first pass: every side at most once
        if len(taken) >= cfg.max_per_prompt:
            break
        if i not in used_c and j not in used_r:
            taken.append((i, j))
            used_c.add(i)
            used_r.add(j)
    if cfg.reuse:
        chosen_set = set(taken)
        for ij in ok:
            if len(taken) >= cfg.max_per_prompt:
                break
            if ij not in chosen_set:
                taken.append(ij)
                chosen_set.add(ij)
    return [(chosen[i], rejected[j]) for i, j in taken], below


def plan_pairs(con, cfg: PairsConfig) -> PairPlan:
    """Choose pairs from the ``rollouts`` view, reading no completion text."""
    from cotforge.datagen.distill import short_hash

    statuses = ", ".join(_quote(s) for s in ("correct",) + tuple(cfg.rejected_statuses))
    rows = con.execute(
        f"""
        WITH r AS (
            SELECT DISTINCT ON (id) id, prompt_id, status, finish_reason, completion_tokens, model, score,
                   length(completion) AS chars, md5(completion) AS text_hash, prompt_index, sample_index
            FROM rollouts WHERE finish_reason <> 'error' AND completion IS NOT NULL AND trim(completion) <> ''
            ORDER BY id
        ),
        -- every prompt, also those without one usable completion (p.prompt_id, not r.prompt_id,
        -- which the LEFT JOIN leaves NULL for them: they would all merge into one group)
        p AS (SELECT prompt_id, min(prompt_index) AS first_index FROM rollouts GROUP BY prompt_id)
        SELECT p.prompt_id, r.id, r.status, r.finish_reason, r.completion_tokens, r.chars, r.text_hash, r.model, r.score
        FROM p LEFT JOIN r ON r.prompt_id = p.prompt_id AND r.status IN ({statuses})
        ORDER BY p.first_index NULLS LAST, p.prompt_id, r.sample_index NULLS LAST, r.id
        """
    ).fetchall()
    plan = PairPlan()
    seen_pairs: set[str] = set()

    def flush(prompt_id: str, group: list[tuple]) -> None:
        plan.prompts += 1
        chosen: dict[str, _Side] = {}
        rejected: dict[str, _Side] = {}
        for _, rid, status, finish, tokens, chars, h, model, score in group:
            if rid is None:
                continue
            tokens = int(tokens) if tokens is not None and tokens >= 0 else -1
            side = _Side(rid, tokens, int(chars), h, status, model, score)
            if status == "correct":
                if finish == "stop":  # a correct answer must have ended on its own
                    chosen.setdefault(h, side)
            else:
                rejected.setdefault(h, side)
        for h in set(chosen) & set(rejected):  # the same text graded both ways (two inputs, two verifier versions)
            del chosen[h], rejected[h]
        if not chosen or not rejected:
            plan.no_correct += not chosen
            plan.no_rejected += not rejected
            plan.neither += not chosen and not rejected
            return
        sides = list(chosen.values()) + list(rejected.values())
        in_tokens = all(x.tokens >= 0 for x in sides)
        for x in sides:
            x.length = x.tokens if in_tokens else x.chars
        pairs, below = select_pairs(list(chosen.values()), list(rejected.values()), cfg, prompt_id)
        plan.below_margin += below
        added = 0
        for c, r in pairs:
            pid = short_hash("pair", prompt_id, c.text_hash, r.text_hash)
            if pid in seen_pairs:
                plan.duplicates += 1
                continue
            seen_pairs.add(pid)
            added += 1
            unit, c_len, r_len = pair_lengths(c, r)
            plan.pairs.append({
                "id": pid, "prompt_id": prompt_id, "chosen_id": c.id, "rejected_id": r.id,
                "chosen_tokens": c.tokens, "rejected_tokens": r.tokens, "length_margin": r_len - c_len,
                "length_unit": unit, "chosen_length": c_len, "rejected_length": r_len,
                "chosen_status": c.status, "rejected_status": r.status, "chosen_score": c.score,
                "rejected_score": r.score, "chosen_model": c.model, "rejected_model": r.model,
            })
        plan.prompts_with_pairs += added > 0

    group: list[tuple] = []
    for row in rows:
        if group and row[0] != group[0][0]:
            flush(group[0][0], group)
            group = []
        group.append(row)
    if group:
        flush(group[0][0], group)
    return plan


class PairsSource:
    """Pair rows in plan order; texts and prompts are fetched from the rollouts in chunks."""

    schema = PAIRS_SCHEMA
    CHUNK = 2000

    def __init__(self, con, plan: PairPlan, strategy: str):
        self.con, self.plan, self.strategy = con, plan, strategy

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        from cotforge.datagen.distill import sft_assistant_text

        pairs = self.plan.pairs
        for lo in range(start, len(pairs), self.CHUNK):
            chunk = pairs[lo : lo + self.CHUNK]
            ids = sorted({p["chosen_id"] for p in chunk} | {p["rejected_id"] for p in chunk})
            prompt_ids = sorted({p["prompt_id"] for p in chunk})
            self.con.register("wanted_ids", pa.table({"id": ids}))
            self.con.register("wanted_prompts", pa.table({"prompt_id": prompt_ids}))
            texts = dict(self.con.execute(
                "SELECT DISTINCT ON (id) id, completion FROM rollouts WHERE id IN (SELECT id FROM wanted_ids) ORDER BY id"
            ).fetchall())
            meta = {
                pid: (prompt, domain, answer, verifier, version)
                for pid, prompt, domain, answer, verifier, version in self.con.execute(
                    "SELECT DISTINCT ON (prompt_id) prompt_id, prompt, domain, answer, verifier, verifier_version "
                    "FROM rollouts WHERE prompt_id IN (SELECT prompt_id FROM wanted_prompts) ORDER BY prompt_id, id"
                ).fetchall()
            }
            self.con.unregister("wanted_ids")
            self.con.unregister("wanted_prompts")
            for p in chunk:
                prompt, domain, answer, verifier, version = meta[p["prompt_id"]]
                prompt_msgs, chosen = sft_assistant_text(_messages(prompt), texts[p["chosen_id"]])
                _, rejected = sft_assistant_text(_messages(prompt), texts[p["rejected_id"]])
                row = {
                    **p, "prompt": prompt_msgs, "strategy": self.strategy, "domain": domain, "answer": answer,
                    "verifier": verifier, "verifier_version": version,
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                }
                yield {k: row[k] for k in self.schema.names}  # the plan's unit/length fields feed the stats only


def _messages(prompt: Any) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


# ------------------------------------------------------------------------------------------ stats


def _quantile(values: list[int], q: float) -> float:
    """Linear-interpolation quantile of sorted ``values`` (DuckDB's ``quantile_cont``)."""
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def length_stats(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Length statistics of pairs that share one unit."""
    n = len(pairs)
    margins = sorted(p["length_margin"] for p in pairs)
    return {
        "pairs": n,
        "mean_chosen": sum(p["chosen_length"] for p in pairs) / n,
        "mean_rejected": sum(p["rejected_length"] for p in pairs) / n,
        "mean_margin": sum(margins) / n,
        "median_margin": _quantile(margins, 0.5),
        "margin_p10": _quantile(margins, 0.1),
        "margin_p90": _quantile(margins, 0.9),
        "mean_abs_margin": sum(abs(m) for m in margins) / n,
        "share_chosen_shorter": sum(p["chosen_length"] < p["rejected_length"] for p in pairs) / n,
    }


def pairs_stats(plan: PairPlan) -> dict[str, Any]:
    """Card statistics from the plan (the rows written are exactly its pairs, in order).

    Lengths are reported per unit: a pair counts in ``tokens`` when both sides had token counts,
    else in ``characters``; the two are never averaged together.
    """
    per_prompt: dict[str, int] = {}
    rejected_status: dict[str, int] = {}
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for p in plan.pairs:
        per_prompt[p["prompt_id"]] = per_prompt.get(p["prompt_id"], 0) + 1
        rejected_status[p["rejected_status"]] = rejected_status.get(p["rejected_status"], 0) + 1
        by_unit.setdefault(p["length_unit"], []).append(p)
    histogram: dict[int, int] = {}
    for k in per_prompt.values():
        histogram[k] = histogram.get(k, 0) + 1
    return {
        "pairs": len(plan.pairs),
        "prompts": plan.prompts,
        "prompts_with_pairs": plan.prompts_with_pairs,
        "prompts_without_correct": plan.no_correct,
        "prompts_without_rejected": plan.no_rejected,
        "prompts_without_either": plan.neither,
        "combinations_below_margin": plan.below_margin,
        "duplicate_pairs_dropped": plan.duplicates,
        "pairs_per_prompt": {str(k): histogram[k] for k in sorted(histogram)},
        "rejected_statuses": dict(sorted(rejected_status.items(), key=lambda kv: (-kv[1], kv[0]))),
        "length_units": {u: len(by_unit[u]) for u in ("tokens", "characters") if u in by_unit},
        "lengths": {u: length_stats(by_unit[u]) for u in ("tokens", "characters") if u in by_unit},
    }


# ------------------------------------------------------------------------------------------ entry point


def build_pairs(
    inputs: Sequence[str | Path],
    out: str | Path,
    cfg: PairsConfig = PairsConfig(),
    *,
    overwrite: bool = False,
    name: str = "cotforge-pairs",
    version: str = "1.0.0",
    command: str | None = None,
) -> dict[str, Any]:
    """Build a DPO pairs dataset from rollout datasets/files; returns its manifest."""
    import duckdb

    from cotforge.hub.pairs_card import render_pairs_card
    from cotforge.store.dataset import DatasetWriter

    cfg.validate()
    if not inputs:
        raise UsageError("--input: give at least one distill dataset (its `all` config) or rollout file")
    from cotforge.datagen.inputs import check_out_apart

    check_out_apart(out, inputs)
    files, records = rollout_files(inputs)
    con = duckdb.connect()
    _relation(con, files)
    plan = plan_pairs(con, cfg)
    out = Path(out)
    build_config = cfg.resolved()
    build_config["inputs"] = [r.get("content_hash") or r.get("sha256") or r.get("fingerprint") for r in records]
    writer = DatasetWriter(
        out, name=name, family=FAMILY, version=version, build_config=build_config, seeds={"seed": cfg.seed},
        command=command or rebuild_command(inputs, out, cfg), overwrite=overwrite, inputs=records,
    )
    writer.write_split("default", "train", PairsSource(con, plan, cfg.strategy))
    stats = pairs_stats(plan)
    notes = []
    if not plan.pairs:
        notes.append("No prompt had both a correct and a rejected completion, so the dataset is empty.")
    return writer.finish(notes=notes, stats=stats, render_card=lambda m: render_pairs_card(m, out))


def rebuild_command(inputs: Sequence[str | Path], out: str | Path, cfg: PairsConfig) -> str:
    from cotforge.datagen.inputs import command_path

    parts = ["cotforge pairs"] + [f"--input {command_path(i)}" for i in inputs] + [
        f"--out {command_path(Path(out).resolve())}", f"--strategy {cfg.strategy}", f"--max-per-prompt {cfg.max_per_prompt}", f"--seed {cfg.seed}",
        f"--rejected-status {','.join(cfg.rejected_statuses)}", f"--min-margin {cfg.min_margin}",
    ]
    if not cfg.reuse:
        parts.append("--no-reuse")
    return " ".join(parts)
