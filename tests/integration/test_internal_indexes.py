"""The indexes the bridge wants beyond the contract: reported on every backend, created only when asked."""

from connectors.internal import indexes
from connectors.internal.db import engine_for


def test_missing_indexes_are_named_then_created_once(internal_url):
    engine = engine_for(internal_url)
    wanted = [w.name for w in indexes.missing(engine)]
    if engine.dialect.name in ("mysql", "mariadb"):
        # InnoDB indexes every foreign key column (AAC001 references AC01) itself
        assert wanted == ["pb_ix_ae_ywjl_aae015"]
    else:
        assert wanted == ["pb_ix_ae_ywjl_aac001", "pb_ix_ac_zyzr_aac001", "pb_ix_ae_ywjl_aae015"]
    indexes.create(engine, indexes.missing(engine))
    assert indexes.missing(engine) == []
