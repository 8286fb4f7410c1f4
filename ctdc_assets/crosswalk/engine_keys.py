"""Record keys: a keyed hash (HMAC-SHA256) of the case id, or of the row's content."""

from __future__ import annotations

import hashlib

import polars as pl

from ctdc_assets.crosswalk.engine_context import PROVENANCE_COLUMNS, SEP, ChunkBase


def _hmac_hex(key: bytes, messages: list[str]) -> list[str]:
    """HMAC-SHA256 (RFC 2104) of each message, hex. Same result as `hmac.new(key, m,
    sha256)`, about twice as fast: the padded-key states are hashed once and copied."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    out: list[str] = []
    append = out.append
    for message in messages:
        i = inner.copy()
        i.update(message.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        append(o.hexdigest())
    return out


class SeenRows:
    """How often each row content (record keys without a case id) occurred in earlier
    chunks, so that the n-th identical row is numbered across the whole delivery."""

    def __init__(self) -> None:
        self.counts = pl.DataFrame(schema={"content": pl.String, "_before": pl.UInt32})

    def number(self, content: pl.Series) -> pl.Series:
        """`content` + separator + its occurrence number (1, 2, ...) in the delivery."""
        frame = content.alias("content").to_frame()
        frame = frame.with_columns(pl.col("content").cum_count().over("content").alias("_n"))
        if self.counts.height:
            frame = frame.join(self.counts, on="content", how="left", maintain_order="left")
            frame = frame.with_columns(pl.col("_n") + pl.col("_before").fill_null(0))
        self.counts = (
            pl.concat(
                [
                    self.counts,
                    frame.group_by("content").agg(pl.len().cast(pl.UInt32).alias("_before")),
                ]
            )
            .group_by("content")
            .agg(pl.col("_before").sum())
        )
        return frame.select(
            (pl.col("content") + pl.lit(SEP) + pl.col("_n").cast(pl.String)).alias("content")
        ).to_series()


class RecordKeys(ChunkBase):
    def record_key(self, frame: pl.DataFrame) -> pl.Series:
        """HMAC-SHA256 of `<contributor>\\x1f<case id>`, hex; see README for no case id."""
        prefix = f"{self.cw.name}{SEP}"
        if self.cw.case_id:
            cid = frame.get_column(self.cw.case_id).str.strip_chars().replace("", None)
            messages = pl.select(pl.lit(prefix) + cid).to_series()
            if cid.null_count():
                messages = messages.fill_null(self._row_content_where_null(frame, cid))
        else:
            messages = self._row_content(frame)
        # In slices: a Python list of millions of strings is large (and transient).
        step = 500_000
        keys = [
            pl.Series("record_key", _hmac_hex(self.key, part.to_list()), dtype=pl.String)
            for part in (messages.slice(i, step) for i in range(0, max(messages.len(), 1), step))
        ]
        return pl.concat(keys) if len(keys) > 1 else keys[0]

    def _row_content_where_null(self, frame: pl.DataFrame, cid: pl.Series) -> pl.Series:
        """`_row_content` for the rows without a case id (null elsewhere), from every
        delivered column. Rows with a case id never share content with those without
        (the case id is part of it), so the n-th identical row is counted the same."""
        if self.rows_of is None:
            return self._row_content(frame)
        rows = self.rows_of(frame.get_column("_order").filter(cid.is_null()))
        content = self._row_content(rows)
        return frame.get_column("_order").replace_strict(
            rows.get_column("_order"), content, default=None, return_dtype=pl.String
        )

    def _row_content(self, frame: pl.DataFrame) -> pl.Series:
        """`<contributor>\\x1frow\\x1f<all delivered values>\\x1f<n-th identical row>`."""
        skip = {"_order", "source_row", "source_sheet", *PROVENANCE_COLUMNS}
        payload = [c for c in frame.columns if c not in skip and not c.startswith("_")]
        joined = pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("\x00") for c in payload], separator=SEP
        )
        content = frame.select(
            (pl.lit(f"{self.cw.name}{SEP}row{SEP}") + joined).alias("content")
        ).to_series()
        return self.seen.number(content)
