"""Super-resolution networks (PyTorch), registered in :mod:`volsr.models`.

Importing this package imports every family module, whose ``register_network`` calls
add entries to the model registry; :func:`volsr.models.create_model` imports it lazily.

==================  ======  ===========  ==========================================
name                dims    upsampling   reference
==================  ======  ===========  ==========================================
``srcnn_2d``        2       pre          Dong et al., ECCV 2014 / TPAMI 2016
``srcnn_3d``        3       pre          Pham et al., ISBI 2017 (SRCNN3D)
``srcnn_rrelu_3d``  3       pre          SRCNN3D with RReLU (Yang et al.)
``dcsrn_2d``        2       pre          Chen et al., ISBI 2018 (2D variant)
``dcsrn_3d``        3       pre          Chen et al., ISBI 2018
``mdcsrn_3d``       3       pre          Chen et al., MICCAI 2018 (generator)
==================  ======  ===========  ==========================================

Example:
    >>> from volsr.models import create_model
    >>> net = create_model("srcnn_3d")
    >>> net.upsampling, net.spatial_dims, net.scale
    ('pre', 3, (2.0, 2.0, 2.0))
"""

from __future__ import annotations

from volsr.models.networks import (  # noqa: F401  (importing registers the models)
    dcsrn,
    drcn,
    drrn,
    edsr,
    espcn,
    fmen,
    fsrcnn,
    lapsrn,
    rdn,
    rrdb,
    srcnn,
    srdensenet,
    srresnet,
    unet,
    vdsr,
)
from volsr.models.networks._base import SRNet
from volsr.models.networks.dcsrn import DCSRN, MDCSRN
from volsr.models.networks.srcnn import SRCNN

__all__ = ["DCSRN", "MDCSRN", "SRCNN", "SRNet", "dcsrn", "srcnn"]
