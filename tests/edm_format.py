"""Tiny network pickles in NVIDIA EDM's exact on-disk format, for tests (no EDM code).

The writing side of the format and the network source live in
:mod:`artrl.models.edm_writer` (the GPU smoke check, :mod:`artrl.smoke`, uses them too); this
module re-exports what the tests import: :func:`tiny_edm_net` (the in-memory network),
:func:`write_edm_pickle` and :func:`write_tiny_edm_pickle`, :func:`tiny_edm_loss`, the sources
:data:`NETWORK_SRC`, :data:`LOSS_SRC`, :data:`BROKEN_LOSS_SRC` and :class:`EasyDict`. Used by
tests/test_models_edm.py, tests/test_art_heun_proxy.py and the workflow tests.
"""

from __future__ import annotations

from artrl.models.edm_writer import (
    BROKEN_LOSS_SRC,
    LOSS_SRC,
    NETWORK_SRC,
    EasyDict,
    tiny_edm_loss,
    tiny_edm_net,
    write_edm_pickle,
    write_tiny_edm_pickle,
)

__all__ = [
    "NETWORK_SRC",
    "EasyDict",
    "LOSS_SRC",
    "BROKEN_LOSS_SRC",
    "tiny_edm_net",
    "tiny_edm_loss",
    "write_edm_pickle",
    "write_tiny_edm_pickle",
]
