"""What editors and type checkers see of :mod:`le4nn.ops` (see its docstring).

Each op is the reference function itself, so go-to-definition on ``ops.im2col`` opens the NumPy
equation in ``reference.py``; at run time ``ops.im2col`` forwards to the backend in force, with the
same signature and docstring.  Keep this list equal to ``OPS`` (a test checks it);
without an ``__all__`` here, the names imported ``as`` themselves and those defined are the public ones.
"""

# The ops are listed in the order of reference.py and OPS, not sorted:
# ruff: noqa: I001
from contextlib import AbstractContextManager

from le4nn.ops import reference as reference
from le4nn.ops.reference import (
    im2col as im2col,
    col2im as col2im,
    maxpool2d_forward as maxpool2d_forward,
    maxpool2d_backward as maxpool2d_backward,
    avgpool2d_forward as avgpool2d_forward,
    avgpool2d_backward as avgpool2d_backward,
    im2col_nhwc as im2col_nhwc,
    col2im_nhwc as col2im_nhwc,
    maxpool2d_nhwc_forward as maxpool2d_nhwc_forward,
    maxpool2d_nhwc_backward as maxpool2d_nhwc_backward,
    conv2d_nhwc_forward as conv2d_nhwc_forward,
    conv2d_nhwc_filter_grad as conv2d_nhwc_filter_grad,
    conv2d_nhwc_pool_forward as conv2d_nhwc_pool_forward,
    conv2d_nhwc_filter_grad_pooled as conv2d_nhwc_filter_grad_pooled,
    winograd_input_transform as winograd_input_transform,
    winograd_output_transform as winograd_output_transform,
    winograd_gradient_transform as winograd_gradient_transform,
    winograd4_input_transform as winograd4_input_transform,
    winograd4_output_transform as winograd4_output_transform,
    winograd4_gradient_transform as winograd4_gradient_transform,
    winograd_kernel_transform as winograd_kernel_transform,
    winograd_filter_gradient as winograd_filter_gradient,
    sigmoid_forward as sigmoid_forward,
    sigmoid_backward as sigmoid_backward,
    relu_forward as relu_forward,
    relu_backward as relu_backward,
    softmax_forward as softmax_forward,
    softmax_cross_entropy_forward as softmax_cross_entropy_forward,
    softmax_cross_entropy_backward as softmax_cross_entropy_backward,
    softmax_cross_entropy as softmax_cross_entropy,
    bias_relu_forward as bias_relu_forward,
    relu_backward_bias as relu_backward_bias,
    sigmoid_backward_bias as sigmoid_backward_bias,
    sparse_matmul as sparse_matmul,
    sparse_matmul_tn as sparse_matmul_tn,
    sgd_update as sgd_update,
    batchnorm_forward as batchnorm_forward,
    batchnorm_backward as batchnorm_backward,
    add_relu_forward as add_relu_forward,
    nchw_to_nhwc as nchw_to_nhwc,
    nhwc_to_nchw as nhwc_to_nchw,
)

BACKENDS: tuple[str, ...]
OPS: tuple[str, ...]

class BackendFallbackWarning(UserWarning): ...

def native_available() -> bool: ...
def set_backend(name: str) -> None: ...
def get_backend() -> str: ...
def backend(name: str) -> AbstractContextManager[None]: ...
