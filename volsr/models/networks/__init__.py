"""Super-resolution networks (PyTorch), registered in :mod:`volsr.models`.

Importing this package imports every family module, whose ``register_network`` calls
add entries to the model registry; :func:`volsr.models.create_model` imports it lazily.
The table below is generated from the registry by :mod:`volsr.models.catalog`
(``python -m volsr.models.catalog`` rewrites it; a test checks it is current);
``docs/models.md`` has the same list with the papers.

.. begin generated model table

====================  ====  ===========  ==========
name                  dims  upsampling   family
====================  ====  ===========  ==========
``dcsrn_2d``          2     pre          dcsrn
``dcsrn_3d``          3     pre          dcsrn
``drcn_2d``           2     pre          drcn
``drcn_3d``           3     pre          drcn
``drrn_2d``           2     pre          drrn
``drrn_3d``           3     pre          drrn
``edsr_2d``           2     post         edsr
``edsr_3d``           3     post         edsr
``edsr_baseline_2d``  2     post         edsr
``edsr_baseline_3d``  3     post         edsr
``espcn_2d``          2     post         espcn
``espcn_3d``          3     post         espcn
``fmen_2d``           2     post         fmen
``fmen_3d``           3     post         fmen
``fsrcnn_2d``         2     post         fsrcnn
``fsrcnn_3d``         3     post         fsrcnn
``lapsrn_2d``         2     progressive  lapsrn
``lapsrn_3d``         3     progressive  lapsrn
``lraxis_2d``         2     post         lraxis
``mdcsrn_3d``         3     pre          mdcsrn
``rdn_2d``            2     post         rdn
``rdn_3d``            3     post         rdn
``rrdbnet_2d``        2     post         rrdbnet
``rrdbnet_3d``        3     post         rrdbnet
``srcnn_2d``          2     pre          srcnn
``srcnn_3d``          3     pre          srcnn
``srcnn_rrelu_3d``    3     pre          srcnn
``srdensenet_2d``     2     post         srdensenet
``srdensenet_3d``     3     post         srdensenet
``srresnet_2d``       2     post         srresnet
``srresnet_3d``       3     post         srresnet
``unet_park_2d``      2     pre          unet_park
``unet_park_3d``      3     pre          unet_park
``vdsr_2d``           2     pre          vdsr
``vdsr_3d``           3     pre          vdsr
====================  ====  ===========  ==========

.. end generated model table

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
    lraxis,
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
