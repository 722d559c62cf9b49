"""Benchmark: peak memory of the vector path at a million verbatims (embed, cache, score, topics, ideas).

The whole pipeline at 1M verbatims takes hours on 2 cores (see `scale`), so this measures the parts
whose memory grows with the corpus on their own, at full size, each step in a fresh process (peak
resident memory from `getrusage`):

- `embed`: `embed_texts` on N texts (1% repeated) with the embedding cache, cold, then warm
  (every vector read back from the cache), then `np.save` of the matrix, as `pipeline.embed` does;
- `score`: the matrix read chunk by chunk (`VectorFile`, `engine.chunk_rows`), as `pipeline.score`;
- `topics`: the rows with text, multilingual block only, normalised (`selected_rows`), as `pipeline.topics`;
- `ideas`: `group_ideas` on 5% of N suggestions (sample of `ideas.max_exact`, the others join).

The encoder is a stand-in that returns random vectors of the real width (512 USE + 384 MiniLM): what
is measured is the memory of the machinery around the encoder, not its speed (`embed` and `scale`
measure that). `--before REV` runs `embed` with the code of a git revision too, for comparison.

Run: python -m benchmarks.bench_memory [--rows 1000000] [--before 7ff3d57]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, machine_info, write_results

DIM, BASE_DIM = 896, 512


class StandIn:
    """Random vectors of the real width, quickly (the memory around the encoder is measured)."""

    name = "stand-in"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.rng.standard_normal((len(texts), DIM), dtype=np.float32)


def corpus(n: int) -> list[str]:
    return [
        f"verbatim {i % (n - n // 100)} : le conseiller n'a jamais rappelé, frais de tenue de compte" for i in range(n)
    ]


def peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def embed_module(revision: str | None):
    """`pipeline.embed` of this tree, or of a git revision (loaded from `git show`)."""
    if revision is None:
        import pipeline.embed as module

        return module
    source = subprocess.run(
        ["git", "show", f"{revision}:pipeline/embed.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "embed_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("embed_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step(name: str, n: int, work: Path, revision: str | None) -> dict:
    """One step, in this (fresh) process."""
    t0 = time.perf_counter()
    if name in ("embed_cold", "embed_warm"):
        embed = embed_module(revision)
        texts = corpus(n)
        cache = embed.EmbeddingCache(work / "cache", StandIn.name)
        vectors = embed.embed_texts(texts, StandIn(), cache)
        cache.save()
        np.save(work / "embeddings.npy", vectors)
        extra = {"shape": list(vectors.shape)}
    elif name == "score":
        from pipeline.embed import VectorFile

        vectors, total = VectorFile(work / "embeddings.npy"), 0.0
        for start in range(0, len(vectors), 20_000):  # engine.chunk_rows
            total += float(vectors[start : start + 20_000].sum())
        extra = {"chunks": -(-len(vectors) // 20_000)}
    elif name == "topics":
        from pipeline.embed import VectorFile, selected_rows

        vectors = VectorFile(work / "embeddings.npy")
        keep = np.ones(len(vectors), bool)
        keep[::50] = False  # 2% without text
        vecs = selected_rows(vectors, keep, BASE_DIM, normalise=True)
        extra = {"shape": list(vecs.shape)}
    elif name == "ideas":
        from pipeline.ideas import group_ideas

        rng = np.random.default_rng(1)
        centres = rng.standard_normal((2000, BASE_DIM)).astype(np.float32)
        m = n // 20
        vectors = centres[rng.integers(0, len(centres), m)] + 0.3 * rng.standard_normal((m, BASE_DIM), dtype=np.float32)
        labels = group_ideas(vectors, 0.55, max_exact=5000)
        extra = {"suggestions": m, "ideas": int(len(set(labels.tolist())))}
    else:
        raise ValueError(name)
    return {"step": name, "seconds": round(time.perf_counter() - t0, 1), "peak_mb": peak_mb(), **extra}


def run(name: str, n: int, work: Path, revision: str | None = None) -> dict:
    args = [sys.executable, "-m", "benchmarks.bench_memory", "--step", name, "--rows", str(n), "--work", str(work)]
    out = subprocess.run(
        [*args, *(["--revision", revision] if revision else [])], cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode:
        return {
            "step": name,
            "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}",
        }
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"  {name:<12} {revision or 'this tree':<10} {result['seconds']:>7.1f} s {result['peak_mb']:>7,} MB", flush=True
    )
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--before", help="a git revision whose embed code is measured too")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--revision", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:  # a child process
        print(json.dumps(step(args.step, args.rows, args.work, args.revision)))
        return {}
    runs = []
    for revision in ([args.before] if args.before else []) + [None]:
        with tempfile.TemporaryDirectory(prefix="voix-memory-") as work:
            for name in ("embed_cold", "embed_warm", "score", "topics", "ideas"):
                if revision is not None and name not in ("embed_cold", "embed_warm"):
                    continue
                runs.append({**run(name, args.rows, Path(work), revision), "code": revision or "this tree"})
    report = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_memory " + " ".join(argv if argv is not None else sys.argv[1:]),
        "rows": args.rows,
        "width": DIM,
        "machine": machine_info(),
        "runs": runs,
    }
    lines = [
        f"# Memory of the vector path at {args.rows:,} verbatims ({report['date']})",
        "",
        f"`{report['command'].strip()}`: each step in a fresh process, peak resident memory. Stand-in",
        f"encoder (random {DIM}-wide vectors, the width of USE + the English expert): the machinery around",
        f"the encoder is measured, not the encoder. The matrix itself is {args.rows * DIM * 4 / 2**30:.1f} GiB.",
        "",
        "| step | code | seconds | peak MB | notes |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        notes = r.get("error") or ", ".join(
            f"{k} {v}" for k, v in r.items() if k not in ("step", "code", "seconds", "peak_mb")
        )
        lines.append(
            f"| {r['step']} | {r['code']} | {r.get('seconds', '-')} | {r.get('peak_mb', '-'):,} | {notes} |"
            if "peak_mb" in r
            else f"| {r['step']} | {r['code']} | - | - | {notes} |"
        )
    write_results("memory", report, lines)
    return report


if __name__ == "__main__":
    main()
