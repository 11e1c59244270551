"""Ready-made network architectures (as ``keras.applications``): functions that build a fresh, untrained
:class:`~le4nn.models.Model`.

- :func:`ResNet`: a residual network of basic blocks (He et al. 2016), any widths and depths.
- :func:`resnet20`: the paper's CIFAR-10 ResNet-20 (16/32/64 filters, 3 blocks per stage).
- :func:`digit_resnet`: the ``le4nn-train --model resnet`` preset for 28×28 digits.
"""

from le4nn.applications.resnet import ResNet, digit_resnet, resnet20

__all__ = ["ResNet", "digit_resnet", "resnet20"]
