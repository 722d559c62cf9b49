"""Stage `report`: the page marketers read, one self-contained HTML file, and the Excel export.

In:  the outputs of the earlier stages: `data/processed/verbatims.parquet` (scored),
     `data/processed/topics.parquet`, `data/interim/lemmas.parquet`, `reports/kpis.json`,
     `reports/alerts.json`, `reports/themes.csv`, `reports/irritants.csv`, `reports/journey.csv`.
Out: - `reports/report.html`: summary KPIs (trend arrows, traffic lights against the targets of
       `report.targets`), trends with the alert periods marked, Pareto of themes and irritants,
       importance x satisfaction matrix, ranked themes with quotes, customer journey, routing,
       alerts, emotions by theme and journey stage, customer effort, ideas, word clouds, and a
       drill-down table (filters by channel, agency, product, period;
       sortable). CSS, script, charts (SVG) and images (PNG) are inline: it opens with no network.
     - `reports/verbatims_enriched.xlsx`: one row per verbatim, every derived column, redacted text,
       filterable.

Every verbatim and label goes through Jinja2's autoescaping (`<script>` in a review shows as text);
only the charts, generated here from numbers, are inserted as markup. French by default,
English with `report.language: en`.

Run: python -m pipeline.report REPORTS_DIR SCORED TOPICS LEMMAS REPORT_HTML XLSX_OUT [--effort EFFORT_PARQUET
     --effort-metrics EFFORT_JSON]
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("voix.report")

TEMPLATE_DIR = Path(__file__).parent / "templates"

LABELS = {
    "fr": {
        "title": "Voix du client",
        "period": "Période",
        "generated": "Généré le",
        "summary": "Synthèse",
        "trends": "Évolution dans le temps",
        "pareto": "Ce qui pèse le plus",
        "themes": "Thèmes classés",
        "journey": "Parcours client",
        "routing": "Qui doit agir",
        "alerts": "Alertes",
        "clouds": "Nuages de mots",
        "drill": "Tous les verbatims",
        "nps": "NPS",
        "ces": "Effort client (CES)",
        "csat": "Satisfaction (CSAT)",
        "negative_pct": "Verbatims négatifs",
        "volume": "Verbatims",
        "complaints_pct": "Réclamations",
        "target": "objectif",
        "answers": "réponses",
        "low_n": "moins de 100 réponses : à lire avec prudence",
        "vs_previous": "vs mois précédent",
        "theme": "Thème",
        "irritant": "Irritant",
        "share_negative": "% négatif",
        "tone": "Ton moyen",
        "trend": "Tendance",
        "impact": "Impact",
        "quotes": "Ce que disent les clients",
        "stage": "Étape",
        "irritants": "Irritants",
        "incontournables": "Incontournables",
        "plus": "Plus",
        "service": "Service",
        "priority": "Priorité",
        "needs_review": "À relire par une personne",
        "churn": "Clients qui menacent de partir",
        "customer": "Client (pseudonyme)",
        "date": "Date",
        "excerpt": "Extrait",
        "no_alert": "Aucune alerte.",
        "all": "Tous",
        "negative": "Négatifs",
        "positive": "Positifs",
        "channel": "Canal",
        "agency": "Agence",
        "product": "Produit",
        "qualification": "Qualification",
        "shown_rows": "lignes affichées sur",
        "filter": "Filtrer",
        "up": "en hausse",
        "down": "en baisse",
        "flat": "stable",
        "evidence": "Preuves",
        "chart_volume": "Volume de verbatims et part de négatifs par mois (zones rouges : alertes)",
        "chart_nps": "NPS par mois (points ; gris : moins de 100 réponses)",
        "chart_pareto_themes": "Les thèmes qui concentrent les verbatims négatifs (barres) et leur cumul (%)",
        "chart_pareto_irritants": "Les irritants par nombre de verbatims négatifs, et leur cumul (%)",
        "chart_matrix": "Importance × satisfaction : en haut à gauche, la zone d'urgence",
        "cloud_all": "Tous les verbatims",
        "cloud_neg": "Verbatims négatifs",
        "cloud_pos": "Verbatims positifs",
        "alert_types": {
            "negative_surge": "Hausse soudaine de messages négatifs",
            "emerging_topic": "Sujet émergent",
            "repeat_complainer": "Client qui réclame de nouveau",
            "churn_risk": "Risque de départ",
        },
        "levels": {"critique": "critique", "fort": "fort", "moyen": "moyen", "minime": "minime"},
        "more": "et {n} autres",
        "usually": "{n} par semaine d'habitude",
        "emotions": "Émotions",
        "actions": "Vous avez dit, nous avons fait",
        "action": "Action",
        "owner": "Responsable",
        "deadline": "Échéance",
        "status": "Statut",
        "done_on": "faite le",
        "start": "départ",
        "now": "aujourd'hui",
        "indicator_negative": "verbatims négatifs par mois",
        "topics_mode_small": "Peu de verbatims : les sujets sont les thèmes nommés (mode petit volume, sans clustering).",
        "topics_mode_cluster": "Sujets trouvés par regroupement automatique ({mode}).",
        "emotion_by_theme": "Émotions par thème (% des verbatims) et intensité moyenne (0 à 1)",
        "emotion_by_stage": "Émotions par étape du parcours",
        "intensity": "Intensité",
        "effort": "Effort client",
        "effort_by_stage": "Effort décrit par étape du parcours (0 = aucun signal, 5 = maximum)",
        "effort_ces": "Plus un client décrit d'efforts, plus il note l'effort haut au questionnaire : corrélation de Spearman ρ = {rho} (n = {n}).",
        "mean_effort": "Effort moyen",
        "ces_by_effort": "CES moyen selon l'effort décrit",
        "ideas": "Idées et suggestions",
        "idea": "Idée",
        "customers": "Clients",
        "examples": "Exemples",
        "all_verbatims": "tous les verbatims",
        "importance": "Importance (% des verbatims)",
        "satisfaction": "Satisfaction (% positifs)",
        "pareto_cum": "cumul %",
        "negatives": "verbatims négatifs",
        "months": "mois",
    },
    "en": {
        "title": "Voice of the customer",
        "period": "Period",
        "generated": "Generated on",
        "summary": "Summary",
        "trends": "Trends",
        "pareto": "What weighs most",
        "themes": "Ranked themes",
        "journey": "Customer journey",
        "routing": "Who must act",
        "alerts": "Alerts",
        "clouds": "Word clouds",
        "drill": "All verbatims",
        "nps": "NPS",
        "ces": "Customer effort (CES)",
        "csat": "Satisfaction (CSAT)",
        "negative_pct": "Negative verbatims",
        "volume": "Verbatims",
        "complaints_pct": "Complaints",
        "target": "target",
        "answers": "answers",
        "low_n": "fewer than 100 answers: read with care",
        "vs_previous": "vs previous month",
        "theme": "Theme",
        "irritant": "Irritant",
        "share_negative": "% negative",
        "tone": "Mean tone",
        "trend": "Trend",
        "impact": "Impact",
        "quotes": "What customers say",
        "stage": "Stage",
        "irritants": "Irritants",
        "incontournables": "Must-haves",
        "plus": "Delighters",
        "service": "Service",
        "priority": "Priority",
        "needs_review": "To be checked by a person",
        "churn": "Customers who may leave",
        "customer": "Customer (pseudonym)",
        "date": "Date",
        "excerpt": "Excerpt",
        "no_alert": "No alert.",
        "all": "All",
        "negative": "Negative",
        "positive": "Positive",
        "channel": "Channel",
        "agency": "Branch",
        "product": "Product",
        "qualification": "Qualification",
        "shown_rows": "rows shown out of",
        "filter": "Filter",
        "up": "up",
        "down": "down",
        "flat": "flat",
        "evidence": "Evidence",
        "chart_volume": "Verbatims and share of negative ones per month (red bands: alerts)",
        "chart_nps": "NPS per month (points; grey: fewer than 100 answers)",
        "chart_pareto_themes": "Themes that concentrate the negative verbatims (bars) and their cumulative %",
        "chart_pareto_irritants": "Irritants by number of negative verbatims, and their cumulative %",
        "chart_matrix": "Importance × satisfaction: top left is the urgent zone",
        "cloud_all": "All verbatims",
        "cloud_neg": "Negative verbatims",
        "cloud_pos": "Positive verbatims",
        "alert_types": {
            "negative_surge": "Sudden rise of negative messages",
            "emerging_topic": "Emerging topic",
            "repeat_complainer": "Customer complaining again",
            "churn_risk": "Churn risk",
        },
        "levels": {"critique": "critical", "fort": "high", "moyen": "medium", "minime": "low"},
        "more": "and {n} more",
        "usually": "{n} a week usually",
        "emotions": "Emotions",
        "actions": "You said, we did",
        "action": "Action",
        "owner": "Owner",
        "deadline": "Deadline",
        "status": "Status",
        "done_on": "done on",
        "start": "start",
        "now": "now",
        "indicator_negative": "negative verbatims per month",
        "topics_mode_small": "Few verbatims: the topics are the named themes (small-N mode, no clustering).",
        "topics_mode_cluster": "Topics found by automatic clustering ({mode}).",
        "emotion_by_theme": "Emotions per theme (% of verbatims) and mean intensity (0 to 1)",
        "emotion_by_stage": "Emotions per journey stage",
        "intensity": "Intensity",
        "effort": "Customer effort",
        "effort_by_stage": "Effort described per journey stage (0 = no signal, 5 = most)",
        "effort_ces": "The more effort customers describe, the higher they rate effort in the survey: Spearman ρ = {rho} (n = {n}).",
        "mean_effort": "Mean effort",
        "ces_by_effort": "Mean CES by effort described",
        "ideas": "Ideas and suggestions",
        "idea": "Idea",
        "customers": "Customers",
        "examples": "Examples",
        "all_verbatims": "all verbatims",
        "importance": "Importance (% of verbatims)",
        "satisfaction": "Satisfaction (% positive)",
        "pareto_cum": "cumulative %",
        "negatives": "negative verbatims",
        "months": "months",
    },
}

# KPI name -> (where in kpis.json, lower is better)
KPI_SOURCES = {
    "nps": (("nps", "nps"), False),
    "csat": (("csat", "csat"), False),
    "ces": (("ces", "ces"), True),
    "negative_pct": (("text", "negative_pct"), True),
    "complaints_pct": (("text", "complaints_pct"), True),
    "volume": (("text", "volume"), None),
}


def _get(block: dict[str, Any], path: tuple[str, str]) -> float | None:
    value = block.get(path[0], {}).get(path[1])
    return None if value is None else float(value)


def traffic_light(value: float | None, target: float | None, lower_is_better: bool | None, margin: float) -> str:
    """green: target met; amber: missed by at most `margin` (in the KPI's unit); red: further; grey: no target."""
    if value is None or target is None or lower_is_better is None:
        return "grey"
    gap = (value - target) if lower_is_better else (target - value)
    if gap <= 0:
        return "green"
    return "amber" if gap <= margin else "red"


def summary_tiles(kpis: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """The KPI tiles: value, n, arrow against the previous period, traffic light against target."""
    periods = list(kpis.get("by_period", {}))
    last = kpis["by_period"].get(periods[-1], {}) if periods else {}
    previous = kpis["by_period"].get(periods[-2], {}) if len(periods) > 1 else {}
    targets, margins = config.get("targets", {}), config.get("amber_margins", {})
    tiles = []
    for name in config.get("kpis", list(KPI_SOURCES)):
        path, lower_better = KPI_SOURCES[name]
        value = _get(kpis["overall"], path)
        if value is None:
            continue
        now, before = _get(last, path), _get(previous, path)
        delta = None if now is None or before is None else round(now - before, 1)
        arrow = "→" if delta is None or abs(delta) < 0.5 else ("↑" if delta > 0 else "↓")
        good = None if lower_better is None or delta is None or arrow == "→" else ((delta < 0) == lower_better)
        n = kpis["overall"].get(path[0], {}).get("n") if path[0] != "text" else None
        tiles.append(
            {
                "name": name,
                "value": value,
                "unit": "" if name in ("nps", "ces", "volume") else " %",
                "n": n,
                "low_n": bool(kpis["overall"].get(path[0], {}).get("low_n")) if path[0] != "text" else False,
                "target": targets.get(name),
                "light": traffic_light(value, targets.get(name), lower_better, float(margins.get(name, 0))),
                "arrow": arrow,
                "delta": delta,
                "arrow_good": good,
            }
        )
    return tiles


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buffer.getvalue()
    svg = re.sub(
        r"<metadata>.*?</metadata>", "", svg[svg.index("<svg") :], flags=re.S
    )  # no date: same input, same file
    return svg


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def chart_trends(kpis: dict[str, Any], alerts: list[dict[str, Any]], labels: dict[str, Any]) -> tuple[str, str]:
    """Volume + % negative per month with the alert periods shaded; NPS per month."""
    plt = _plt()
    periods = list(kpis.get("by_period", {}))
    if not periods:
        return "", ""
    months = pd.PeriodIndex(periods, freq="M")
    x = np.arange(len(periods))
    volume = [kpis["by_period"][p]["text"].get("volume", 0) for p in periods]
    negative = [kpis["by_period"][p]["text"].get("negative_pct") for p in periods]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(x, volume, color="#9db4d3", label=labels["volume"])
    ax.set_ylabel(labels["volume"])
    for alert in alerts:
        if alert["type"] != "negative_surge" or alert.get("scope") not in ("all verbatims",):
            continue
        start = pd.Period(alert["period"]["from"], freq="M")
        end = pd.Period(alert["period"]["to"], freq="M")
        hits = [i for i, m in enumerate(months) if start <= m <= end]
        if hits:
            ax.axvspan(min(hits) - 0.45, max(hits) + 0.45, color="#e4572e", alpha=0.18, lw=0)
    ax2 = ax.twinx()
    ax2.plot(
        x, [np.nan if v is None else v for v in negative], color="#c0392b", marker="o", label=labels["negative_pct"]
    )
    ax2.set_ylabel(f"{labels['negative_pct']} (%)")
    ax2.set_ylim(0, 100)
    ax.set_xticks(x, [str(p) for p in periods], rotation=45, ha="right")
    ax.set_title(labels["chart_volume"], loc="left")
    volume_svg = _svg(fig)
    nps = [kpis["by_period"][p].get("nps", {}) for p in periods]
    fig, ax = plt.subplots(figsize=(9, 2.8))
    values = [n.get("nps") for n in nps]
    colors = ["#b0b0b0" if n.get("low_n") else "#2e86ab" for n in nps]
    ax.bar(x, [0 if v is None else v for v in values], color=colors)
    ax.axhline(0, color="#555", lw=0.8)
    ax.set_ylabel("NPS")
    ax.set_xticks(x, [str(p) for p in periods], rotation=45, ha="right")
    ax.set_title(labels["chart_nps"], loc="left")
    return volume_svg, _svg(fig)


def chart_pareto(table: pd.DataFrame, key: str, title: str, labels: dict[str, Any], top: int = 12) -> str:
    """Descending bars (negative verbatims) and the cumulative % line."""
    if table.empty:
        return ""
    plt = _plt()
    data = table[~table[key].isin(["autre", "outliers"])].head(top).copy()  # "none of the named ones" is no cause
    data["pareto_cum_pct"] = 100 * data["impact"].cumsum() / max(data["impact"].sum(), 1)
    x = np.arange(len(data))
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.bar(x, data["impact"], color="#e4572e")
    ax.set_ylabel(labels["negatives"])
    ax2 = ax.twinx()
    ax2.plot(x, data["pareto_cum_pct"], color="#333", marker="o")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel(labels["pareto_cum"])
    ax.set_xticks(x, [str(v) for v in data[key]], rotation=30, ha="right")
    ax.set_title(title, loc="left")
    return _svg(fig)


def chart_matrix(themes: pd.DataFrame, labels: dict[str, Any]) -> str:
    """Importance (share of verbatims) x satisfaction (% positive), the urgent zone shaded."""
    if themes.empty:
        return ""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    mid_x, mid_y = themes["share_pct"].median(), themes["positive_pct"].median()
    ax.axvspan(mid_x, max(themes["share_pct"].max() * 1.1, mid_x + 1), ymin=0, ymax=0.5, color="#e4572e", alpha=0.08)
    ax.scatter(themes["share_pct"], themes["positive_pct"], s=40 + 3 * themes["volume"], color="#2e86ab", alpha=0.7)
    for r in themes.itertuples(index=False):
        ax.annotate(str(r.theme), (r.share_pct, r.positive_pct), fontsize=9, xytext=(4, 4), textcoords="offset points")
    ax.axvline(mid_x, color="#999", lw=0.8, ls="--")
    ax.axhline(mid_y, color="#999", lw=0.8, ls="--")
    ax.set_xlabel(labels["importance"])
    ax.set_ylabel(labels["satisfaction"])
    ax.set_title(labels["chart_matrix"], loc="left")
    return _svg(fig)


def cloud_frequencies(docs: list[str], min_bigram: int = 3, max_words: int = 120) -> dict[str, int]:
    """Word counts of lemma documents, frequent bigrams ("frais bancaire") kept together."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for doc in docs:
        words = doc.split()
        unigrams.update(words)
        bigrams.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a != b)
    counts = Counter()
    for pair, n in bigrams.most_common(max_words):
        if n >= min_bigram:
            counts[pair] = n
    for word, n in unigrams.most_common(max_words * 2):
        counts[word] = n
    return dict(counts.most_common(max_words))


def word_cloud(frequencies: dict[str, int], seed: int = 42) -> str | None:
    """A PNG word cloud as a data URI (None when there are no words)."""
    if not frequencies:
        return None
    from wordcloud import WordCloud

    cloud = WordCloud(
        width=520, height=280, background_color="white", random_state=seed, colormap="viridis", prefer_horizontal=0.9
    ).generate_from_frequencies(frequencies)
    buffer = io.BytesIO()
    cloud.to_image().save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def clouds(
    scored: pd.DataFrame,
    topics: pd.DataFrame,
    lemmas: pd.DataFrame,
    themes: pd.DataFrame,
    labels: dict,
    n_themes: int = 4,
) -> list[dict[str, Any]]:
    frame = (
        scored[["id", "tone"]]
        .merge(lemmas[["id", "lemmas"]], on="id")
        .merge(topics[["id", "theme", "topic_label"]], on="id", how="left")
    )
    frame["lemmas"] = frame["lemmas"].fillna("")
    out = [
        {"title": labels["cloud_all"], "image": word_cloud(cloud_frequencies(frame["lemmas"].tolist()))},
        {
            "title": labels["cloud_neg"],
            "image": word_cloud(cloud_frequencies(frame.loc[frame["tone"] == "négatif", "lemmas"].tolist())),
        },
        {
            "title": labels["cloud_pos"],
            "image": word_cloud(cloud_frequencies(frame.loc[frame["tone"] == "positif", "lemmas"].tolist())),
        },
    ]
    frame["theme"] = frame["theme"].fillna(frame["topic_label"])
    for theme in themes["theme"].head(n_themes) if len(themes) else []:
        out.append(
            {
                "title": f"{labels['theme']} : {theme}",
                "image": word_cloud(cloud_frequencies(frame.loc[frame["theme"] == theme, "lemmas"].tolist())),
            }
        )
    return [c for c in out if c["image"]]


def drill_rows(scored: pd.DataFrame, topics: pd.DataFrame, max_rows: int) -> tuple[list[dict[str, Any]], int]:
    """The drill-down table: most recent verbatims first, at most `max_rows` (the file stays small)."""
    frame = scored[scored["has_text"].astype(bool)].merge(topics[["id", "theme", "topic_label"]], on="id", how="left")
    frame["theme"] = frame["theme"].fillna(frame["topic_label"])
    frame = frame.sort_values("date", ascending=False, na_position="last")
    total = len(frame)
    frame = frame.head(max_rows)
    rows = []
    for r in frame.itertuples(index=False):
        date = pd.Timestamp(r.date) if pd.notna(r.date) else None
        rows.append(
            {
                "id": r.id,
                "date": date.strftime("%Y-%m-%d") if date is not None else "",
                "period": date.strftime("%Y-%m") if date is not None else "",
                "channel": _text(getattr(r, "channel", "")),
                "agency": _text(getattr(r, "agency", "")),
                "product": _text(getattr(r, "product", "")),
                "theme": _text(r.theme),
                "tone": _text(getattr(r, "tone", "")),
                "qualification": _text(getattr(r, "qualification", "")),
                "service": _text(getattr(r, "service", "")),
                "priority": _text(getattr(r, "priority", "")),
                "text": _text(r.text)[:400],
            }
        )
    return rows, total


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else str(value)


def routing(scored: pd.DataFrame, max_rows: int = 30) -> dict[str, Any]:
    texts = scored[scored["has_text"].astype(bool)]
    churn = texts[texts.get("churn_risk", pd.Series(False, index=texts.index)).fillna(False).astype(bool)]
    churn = churn.sort_values("date", ascending=False)
    return {
        "services": texts["service"].value_counts().to_dict() if "service" in texts else {},
        "priorities": texts["priority"].value_counts().to_dict() if "priority" in texts else {},
        "needs_review": int(
            texts.get("needs_review", pd.Series(False, index=texts.index)).fillna(False).astype(bool).sum()
        ),
        "volume": len(texts),
        "churn": [
            {
                "customer": _text(r.customer_id) or "—",
                "id": r.id,
                "date": pd.Timestamp(r.date).strftime("%Y-%m-%d") if pd.notna(r.date) else "",
                "text": _text(r.text)[:200],
            }
            for r in churn.head(max_rows).itertuples(index=False)
        ],
        "churn_total": len(churn),
    }


EMOTION_ORDER = ["colère", "tristesse", "peur", "dégoût", "surprise", "joie", "calme"]


def emotion_mix(frame: pd.DataFrame, by: str, top: list[str] | None = None) -> list[dict[str, Any]]:
    """Per value of `by`: the share of each emotion (%) and the mean intensity of the non-calm ones."""
    if "emotion" not in frame or by not in frame:
        return []
    rows = []
    data = frame.dropna(subset=["emotion", by])
    order = top or data[by].value_counts().index.tolist()
    for value in order:
        group = data[data[by] == value]
        if group.empty:
            continue
        shares = group["emotion"].value_counts(normalize=True)
        felt = (
            group.loc[group["emotion"] != "calme", "emotion_intensity"]
            if "emotion_intensity" in group
            else pd.Series(dtype=float)
        )
        rows.append(
            {
                "key": value,
                "n": len(group),
                "shares": {e: round(100 * float(shares.get(e, 0.0))) for e in EMOTION_ORDER},
                "intensity": round(float(felt.mean()), 2) if len(felt) else None,
            }
        )
    return rows


def effort_section(scored: pd.DataFrame, effort: pd.DataFrame | None, metrics: dict[str, Any] | None) -> dict[str, Any]:
    if effort is None or effort.empty:
        return {}
    merged = scored.merge(effort, on="id")
    by_stage = (
        merged.dropna(subset=["journey_stage"])
        .groupby("journey_stage")["effort_score"]
        .agg(["mean", "size"])
        .sort_values("mean", ascending=False)
        if "journey_stage" in merged
        else pd.DataFrame()
    )
    return {
        "by_stage": [
            {"stage": k, "mean": round(float(r["mean"]), 2), "n": int(r["size"])} for k, r in by_stage.iterrows()
        ],
        "ces": (metrics or {}).get("ces_spearman"),
        "ces_by_effort": (metrics or {}).get("ces_by_effort", {}),
    }


def subject_series(
    subject: str, kind: str, scored: pd.DataFrame, topics: pd.DataFrame, aspects: pd.DataFrame | None
) -> pd.Series:
    """Negative verbatims per month about a theme (topics) or an irritant category (aspects)."""
    negative = scored[scored["tone"] == "négatif"][["id", "date"]]
    if kind == "irritant" and aspects is not None and len(aspects):
        ids = set(aspects.loc[(aspects["polarity"] == "irritant") & (aspects["category"] == subject), "id"])
    else:
        themes = topics.assign(theme=topics["theme"].fillna(topics["topic_label"]))
        ids = set(themes.loc[themes["theme"] == subject, "id"])
    dates = pd.to_datetime(negative.loc[negative["id"].isin(ids), "date"], errors="coerce").dropna()
    months = pd.to_datetime(scored["date"], errors="coerce").dropna().dt.to_period("M")
    if months.empty:
        return pd.Series(dtype=float)
    index = pd.period_range(months.min(), months.max(), freq="M")
    return dates.dt.to_period("M").value_counts().reindex(index, fill_value=0).sort_index()


def sparkline(series: pd.Series, target: float | None, marker: str | None, labels: dict[str, Any]) -> str:
    """A small SVG curve of the indicator, its target (dashed) and the action date (vertical)."""
    if series.empty:
        return ""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 1.6))
    x = np.arange(len(series))
    ax.plot(x, series.to_numpy(), color="#2e86ab", marker="o", ms=3)
    if target is not None:
        ax.axhline(float(target), color="#2a9d4b", ls="--", lw=1)
    if marker:
        at = [i for i, p in enumerate(series.index) if str(p) == marker[:7]]
        if at:
            ax.axvline(at[0], color="#e4572e", lw=1)
    ax.set_xticks([0, len(x) - 1], [str(series.index[0]), str(series.index[-1])])
    ax.set_ylabel(labels["indicator_negative"], fontsize=7)
    return _svg(fig)


def actions_section(
    actions: pd.DataFrame | None,
    scored: pd.DataFrame,
    topics: pd.DataFrame,
    aspects: pd.DataFrame | None,
    labels: dict[str, Any],
) -> list[dict[str, Any]]:
    """One tile per action of `data/actions.csv`: the indicator's curve, start, now, target."""
    from markupsafe import Markup

    if actions is None or actions.empty:
        return []
    tiles = []
    for a in actions.replace({np.nan: None}).to_dict("records"):
        series = subject_series(str(a["subject"]), str(a.get("kind") or "theme"), scored, topics, aspects)
        done = a.get("date_done")
        start_month = str(done)[:7] if done else None
        before = series[[str(p) < start_month for p in series.index]] if start_month else series
        after = series[[str(p) >= start_month for p in series.index]] if start_month else pd.Series(dtype=float)
        tiles.append(
            {
                **a,
                "start": float(before.tail(3).mean()) if len(before) else None,
                "after": float(after.mean()) if len(after) else None,
                "now": float(series.iloc[-1]) if len(series) else None,
                "chart": Markup(sparkline(series, a.get("target"), done, labels)),
            }
        )
    return tiles


def render(context: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = lambda v, d=1: (
        "—" if v is None or (isinstance(v, float) and np.isnan(v)) else (f"{v:,.{d}f}".replace(",", " "))
    )
    return env.get_template("report.html.j2").render(**context)


def build_report(
    reports_dir: Path,
    scored: pd.DataFrame,
    topics: pd.DataFrame,
    lemmas: pd.DataFrame,
    config: dict[str, Any],
    effort: pd.DataFrame | None = None,
    effort_metrics: dict[str, Any] | None = None,
    actions: pd.DataFrame | None = None,
    aspects: pd.DataFrame | None = None,
    topics_metrics: dict[str, Any] | None = None,
) -> str:
    """The report's HTML, from the earlier stages' files (ideas, effort and emotions when present)."""
    from markupsafe import Markup

    language = config.get("language", "fr")
    labels = LABELS.get(language, LABELS["fr"])
    reports_dir = Path(reports_dir)
    kpis = json.loads((reports_dir / "kpis.json").read_text())
    alerts = json.loads((reports_dir / "alerts.json").read_text())["alerts"]
    themes = pd.read_csv(reports_dir / "themes.csv")
    irritants = pd.read_csv(reports_dir / "irritants.csv")
    journey = pd.read_csv(reports_dir / "journey.csv")
    volume_svg, nps_svg = chart_trends(kpis, alerts, labels)
    rows, total = drill_rows(scored, topics, int(config.get("max_table_rows", 1500)))
    filters = {key: sorted({r[key] for r in rows if r[key]}) for key in ("channel", "agency", "product", "period")}
    themes_top = themes.head(int(config.get("top_themes", 10)))
    ideas = pd.read_csv(reports_dir / "ideas.csv") if (reports_dir / "ideas.csv").exists() else pd.DataFrame()
    with_theme = scored.merge(topics[["id", "theme", "topic_label"]], on="id", how="left")
    with_theme["theme"] = with_theme["theme"].fillna(with_theme["topic_label"])
    context = {
        "lang": language,
        "L": labels,
        "period": kpis.get("period", {}),
        "generated": pd.Timestamp.now().strftime("%Y-%m-%d"),
        "tiles": summary_tiles(kpis, config),
        "charts": {
            "volume": Markup(volume_svg),
            "nps": Markup(nps_svg),
            "pareto_themes": Markup(chart_pareto(themes, "theme", labels["chart_pareto_themes"], labels)),
            "pareto_irritants": Markup(chart_pareto(irritants, "irritant", labels["chart_pareto_irritants"], labels)),
            "matrix": Markup(chart_matrix(themes, labels)),
        },
        "themes": [
            {**r, "quotes_list": [q for q in str(r.get("quotes") or "").split(" | ") if q][:3]}
            for r in themes_top.replace({np.nan: None}).to_dict("records")
        ],
        "irritants": [
            {**r, "quotes_list": [q for q in str(r.get("quotes") or "").split(" | ") if q][:2]}
            for r in irritants.head(int(config.get("top_irritants", 8))).replace({np.nan: None}).to_dict("records")
        ],
        "journey": journey_rows(journey),
        "routing": routing(scored),
        "alerts": alerts[: int(config.get("max_alerts", 25))],
        "alerts_total": len(alerts),
        "clouds": clouds(scored, topics, lemmas, themes, labels),
        "emotions_by_theme": emotion_mix(
            with_theme, "theme", themes_top["theme"].tolist() if len(themes_top) else None
        ),
        "emotions_by_stage": emotion_mix(with_theme, "journey_stage"),
        "emotion_order": EMOTION_ORDER,
        "effort": effort_section(scored, effort, effort_metrics),
        "ideas": ideas.head(int(config.get("top_ideas", 15))).replace({np.nan: None}).to_dict("records"),
        "actions": actions_section(actions, scored, topics, aspects, labels),
        "topics_mode": (topics_metrics or {}).get("mode"),
        "rows": rows,
        "rows_total": total,
        "filters": filters,
    }
    return render(context)


def journey_rows(journey: pd.DataFrame) -> list[dict[str, Any]]:
    """Per stage: irritants and plus (each with a quote)."""
    out = []
    for stage, group in journey.groupby("journey_stage", sort=False):
        out.append(
            {
                "stage": stage,
                "irritants": group[group["kind"] == "irritants"].to_dict("records"),
                "plus": group[group["kind"] == "plus"].to_dict("records"),
            }
        )
    return out


ACTION_COLUMNS = [
    "subject",
    "kind",
    "action",
    "owner",
    "indicator",
    "target",
    "deadline",
    "status",
    "date_done",
    "comment",
]


def read_actions(path: Path) -> pd.DataFrame:
    """The editable actions file; a missing column is a clear error."""
    from pipeline.errors import VoixError

    actions = pd.read_csv(path, dtype={"target": float}, keep_default_na=True)
    missing = [c for c in ("subject", "action", "owner", "deadline", "status") if c not in actions]
    if missing:
        raise VoixError(f"{path}: missing columns {missing} (expected {ACTION_COLUMNS})")
    for column in ACTION_COLUMNS:
        if column not in actions:
            actions[column] = None
    return actions[ACTION_COLUMNS]


EXCEL_MAX_ROWS = 1_048_575  # Excel's sheet limit (1,048,576 rows), less the header


def export_excel(scored: pd.DataFrame, topics: pd.DataFrame, path: Path, max_rows: int | None = None) -> int:
    """Every verbatim with every derived column and the redacted text, filterable in Excel.

    Written 10,000 rows at a time (openpyxl's write-only mode: memory bounded by one slice, ~2x
    faster than pandas' writer). Above `max_rows` verbatims (and always within Excel's own 1,048,575 rows) the sheet
    keeps the most recent ones, in their usual order, and a second sheet `lisez-moi` says so and
    where the whole table is. Returns the number of verbatims written.
    """
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    frame = scored.merge(topics[["id", "topic", "topic_label", "theme"]], on="id", how="left")
    frame = frame.drop(columns=[c for c in ("draft_reply",) if c in frame])
    limit = min(int(max_rows), EXCEL_MAX_ROWS) if max_rows else EXCEL_MAX_ROWS
    total = len(frame)
    if total > limit:
        dates = pd.to_datetime(frame["date"], errors="coerce") if "date" in frame else pd.Series(pd.NaT, frame.index)
        recent = dates.reset_index(drop=True).sort_values(ascending=False, kind="stable", na_position="last")
        frame = frame.iloc[np.sort(recent.index.to_numpy()[:limit])]
        log.warning("Excel export: the %d most recent of %d verbatims (report.excel_max_rows)", limit, total)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("verbatims")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(1, len(frame.columns)))}{len(frame) + 1}"
    sheet.append([str(c) for c in frame.columns])
    for start in range(0, len(frame), 10_000):  # cells as Python objects for 10,000 rows at a time
        for row in zip(*_excel_columns(frame.iloc[start : start + 10_000]), strict=True):
            sheet.append(row)
    if total > len(frame):
        notes = book.create_sheet("lisez-moi")
        notes.append([f"Cette feuille contient les {len(frame)} verbatims les plus récents sur {total}."])
        notes.append(["La table complète : data/processed/verbatims.parquet (pandas, DuckDB, Power BI...)."])
        notes.append(["Le nombre de lignes se règle dans params.yaml : report.excel_max_rows."])
    book.save(path)
    return len(frame)


def _excel_columns(frame: pd.DataFrame) -> list[list[Any]]:
    """Each column of `frame` as the cell values Excel gets: empty for missing values (as pandas
    writes them), lists joined with ", ", naive datetimes, characters Excel refuses removed."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def text_cell(v: Any) -> Any:
        if isinstance(v, (list, tuple, np.ndarray)):
            return ", ".join(map(str, v))
        if isinstance(v, str):
            return ILLEGAL_CHARACTERS_RE.sub("", v)
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        return v

    columns = []
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
            columns.append([None if pd.isna(v) else v.to_pydatetime() for v in values])
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            columns.append([text_cell(v) for v in values])
        elif pd.api.types.is_bool_dtype(values):
            columns.append([None if pd.isna(v) else bool(v) for v in values])
        else:  # numbers: NaN and <NA> are empty cells
            columns.append([None if pd.isna(v) else v.item() if hasattr(v, "item") else v for v in values])
    return columns


def main(
    reports_dir: Path,
    scored: Path,
    topics: Path,
    lemmas: Path,
    report_out: Path,
    xlsx_out: Path,
    effort: Path = Path("data/processed/effort.parquet"),
    effort_metrics: Path = Path("metrics/effort.json"),
    actions: Path = Path("data/actions.csv"),
    aspects: Path = Path("data/processed/aspects.parquet"),
    topics_metrics: Path = Path("metrics/topics.json"),
    params_file: Path = Path("params.yaml"),
) -> None:
    """Write the HTML report and the Excel export."""
    from pipeline.params import load_params

    config = load_params(params_file).get("report", {})
    table, topic_table, lemma_table = pd.read_parquet(scored), pd.read_parquet(topics), pd.read_parquet(lemmas)
    effort_table = pd.read_parquet(effort) if Path(effort).exists() else None
    metrics = json.loads(Path(effort_metrics).read_text()) if Path(effort_metrics).exists() else None
    if effort_table is not None:
        table = table.merge(effort_table, on="id", how="left")
    html = build_report(
        Path(reports_dir),
        table.drop(columns=["effort_score", "effort_signals"], errors="ignore"),
        topic_table,
        lemma_table,
        config,
        effort_table,
        metrics,
        read_actions(Path(actions)) if Path(actions).exists() else None,
        pd.read_parquet(aspects) if Path(aspects).exists() else None,
        json.loads(Path(topics_metrics).read_text()) if Path(topics_metrics).exists() else None,
    )
    Path(report_out).parent.mkdir(parents=True, exist_ok=True)
    Path(report_out).write_text(html, encoding="utf-8")
    export_excel(table, topic_table, Path(xlsx_out), config.get("excel_max_rows"))
    log.info("report: %s (%.1f MB), export: %s", report_out, Path(report_out).stat().st_size / 1e6, xlsx_out)


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)
