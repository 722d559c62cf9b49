"""The documented, validated schema of `data/interim/verbatims.parquet` (pandera).

One row per verbatim (or per score-only survey answer, `has_text` false). `text` and `subject` are
always redacted; the raw text lives only in `data/restricted/`.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

SOURCE_TYPES = ["solicited", "spontaneous", "indirect"]


class VerbatimSchema(pa.DataFrameModel):
    """Columns of the verbatims table. Extra columns mapped from a source are named `x_<name>`."""

    id: Series[str] = pa.Field(unique=True, str_matches=r"^v_[0-9a-f]{16}$", description="stable id")
    source: Series[str] = pa.Field(description="source name in params.yaml")
    source_type: Series[str] = pa.Field(isin=SOURCE_TYPES, description="solicited / spontaneous / indirect")
    channel: Series[str] = pa.Field(description="email, site d'avis, enquête...")
    file: Series[str] = pa.Field(description="file the record came from")
    position: Series[str] = pa.Field(description="line, row or message in that file")
    external_id: Series[str] = pa.Field(nullable=True, description="the record's own id (review id, Message-ID)")
    date: Series[pd.Timestamp] = pa.Field(nullable=True, description="local time (base.timezone), naive")
    text: Series[str] = pa.Field(description="redacted, normalised text ('' for score-only answers)")
    subject: Series[str] = pa.Field(nullable=True, description="review title or email subject, redacted")
    lang: Series[str] = pa.Field(str_length={"min_value": 2, "max_value": 3})
    has_text: Series[bool] = pa.Field()
    rating: Series[float] = pa.Field(nullable=True, ge=1, le=5, description="stars 1-5")
    nps: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, le=10, description="recommendation 0-10")
    ces: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, le=5, description="effort 1 (easy) - 5 (hard)")
    csat: Series[str] = pa.Field(nullable=True, description="satisfaction level as answered")
    csat_score: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, le=4, description="4 = très satisfait")
    customer_id: Series[str] = pa.Field(nullable=True, str_matches=r"^cust_[0-9a-f]{16}$", description="salted hash")
    segment: Series[str] = pa.Field(nullable=True)
    product: Series[str] = pa.Field(nullable=True)
    agency: Series[str] = pa.Field(nullable=True)
    site: Series[str] = pa.Field(nullable=True, description="platform or site (Google, Trustpilot...)")
    touchpoint: Series[str] = pa.Field(nullable=True, description="journey step surveyed")
    attachments: Series[str] = pa.Field(nullable=True, description="attachment names, '; '-separated")
    n_chars: Series[int] = pa.Field(ge=0)
    pii_found: Series[str] = pa.Field(description="redactions by kind, e.g. 'phone:1,person:2'")
    text_hash: Series[str] = pa.Field(str_length=16, description="hash of the normalised text")
    near_duplicate_of: Optional[Series[str]] = pa.Field(  # noqa: UP045 - pandera reads Optional[] as "column may be absent"
        nullable=True, description="id of the first of its near-duplicates (set by consolidate)"
    )

    class Config:
        strict = False  # extra x_* columns are allowed

    @pa.dataframe_check(name="has_text matches text")
    def _has_text_flag(cls, frame: pd.DataFrame) -> Series[bool]:  # noqa: N805
        return frame["has_text"] == (frame["text"].str.len() > 0)

    @pa.dataframe_check(name="a score-only row has a score")
    def _score_only_has_score(cls, frame: pd.DataFrame) -> Series[bool]:  # noqa: N805
        scores = frame[["rating", "nps", "ces", "csat"]].notna().any(axis=1)
        return frame["has_text"] | scores


def validate(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a verbatims table; raise `pandera.errors.SchemaErrors` listing every failure."""
    return VerbatimSchema.validate(frame, lazy=True)


COLUMNS = [c for c in VerbatimSchema.to_schema().columns if c != "near_duplicate_of"]
