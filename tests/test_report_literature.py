"""Published SHD figures and the decoding of the study's first-epoch loss column."""

from __future__ import annotations

import math

from spikebench.report.literature import PUBLISHED, fmt_published, published_for
from spikebench.report.study import candidates, chance_reading, loss_inference, n_batches


def test_every_published_figure_says_where_it_was_read_or_that_it_is_unverified():
    for p in PUBLISHED:
        assert p.citation and p.short and p.source
        if p.accuracy is None:
            assert "not verified" in p.note and fmt_published(p) == "not verified"
        else:
            assert 0.5 < p.accuracy < 1.0 and "%" in fmt_published(p)


def test_rows_map_to_their_architecture():
    assert [p.key for p in published_for("snn", {})] == ["cramer_ff_snn"]
    assert [p.key for p in published_for("snn", {"recurrent": True})] == ["cramer_rsnn"]
    assert [p.key for p in published_for("cnn")] == ["cramer_cnn"]
    assert {p.key for p in published_for("adlif")} == {"bittar_radlif", "baronig_seadlif"}
    assert published_for("stdp") == ()


def test_the_studys_phase1_loss_is_chance_over_255_batches_of_32():
    assert n_batches(8156, 32) == 255 and n_batches(8156, 16) == 510
    hit = chance_reading(763.9)
    assert hit is not None and hit.batch_size == 32 and hit.n_batches == 255
    assert round(hit.mean_per_batch, 4) == round(math.log(20), 4)
    assert chance_reading(1524.1).batch_size == 16  # 2.9884, 0.24% below ln 20
    assert chance_reading(510.6) is None  # the CNN's sum does not identify its batch size
    assert [round(r.mean_per_batch, 2) for r in candidates(510.6)] == [1.0, 2.0, 3.99, 7.98]
    text = loss_inference([("SNN 128", 763.9, 757.7), ("CNN", 510.6, None)])
    assert "inference" in text and "batch 32" in text and "not identified" in text
