"""The ordered flow of passes, run until nothing changes.

Passes are tried in order and after any change the sweep starts again from the first,
so earlier passes always see their patterns first: constants are folded before dense
layers are recognised, activations fuse before any is left standing alone, and the
last-resort ``materialize_layers`` passes run only when nothing else applies.
"""
from __future__ import annotations

from typing import Optional

from .ir import IRGraph
from .passes import (drop_dead, drop_masking, drop_noops, fold_affine, fold_constants,
                     fold_select, fold_shapes, fuse_activation, lower_activations,
                     lower_affine, lower_dense, lower_merge, lower_select, lower_swish,
                     materialize_layers)
from .passes import (drop_initial_states, drop_sequence_views, lower_conv1d, lower_last_step,
                     lower_loop_recurrent, lower_recurrent, lower_reduce_time)
from .passes import (classifier_outputs, flatten_input, fold_ml_scaler, lower_channels_first,
                     lower_feature_assignment, squeeze_runtime_reshape)
from .passes import lower_input_transform
from .passes.base import Observer, Pass

PIPELINE: tuple[Pass, ...] = (
    classifier_outputs.refuse_classifier_output,
    fold_constants.fold_constant_node,
    fold_shapes.fold_static_shape,
    fold_shapes.fold_gather_of_shape,
    fold_shapes.infer_reshape_shape,
    drop_noops.drop_identity,
    drop_noops.drop_dropout,
    drop_noops.drop_float_cast,
    drop_noops.drop_layout_chain,
    squeeze_runtime_reshape.squeeze_runtime_reshape,
    drop_sequence_views.drop_sequence_view,
    drop_dead.drop_unreachable,
    flatten_input.flatten_input,
    flatten_input.refuse_sequence_flatten,
    drop_masking.drop_keras_masking,
    drop_initial_states.drop_zero_initial_states,
    lower_recurrent.lower_recurrent,
    lower_loop_recurrent.lower_loop_recurrent,
    lower_conv1d.lower_conv1d,
    lower_dense.lower_gemm,
    lower_dense.lower_matmul,
    lower_swish.lower_swish,
    lower_activations.lower_direct,
    lower_activations.lower_softmax,
    lower_activations.lower_hard_sigmoid,
    lower_activations.lower_selu,
    lower_affine.lower_constant_arithmetic,
    lower_affine.lower_neg,
    lower_channels_first.batch_norm_of_channels_first_sequence,
    lower_affine.lower_batch_norm,
    fold_ml_scaler.fold_scaler,
    lower_merge.lower_concat,
    lower_merge.lower_sum,
    lower_select.lower_slice,
    lower_select.lower_gather,
    lower_feature_assignment.lower_feature_assignment,
    lower_last_step.gather_of_singleton_axis,
    lower_last_step.gather_last_step,
    lower_last_step.slice_last_step,
    lower_reduce_time.lower_reduce_over_time,
    lower_last_step.sequence_output,
    lower_last_step.vector_output,
    fuse_activation.fuse_activation,
    fuse_activation.fuse_into_conv1d,
    fold_affine.merge_affines,
    fold_affine.fold_into_previous_dense,
    fold_affine.fold_into_input,
    fold_affine.fold_into_next_dense,
    lower_feature_assignment.zero_assignment_into_input,
    fold_select.merge_selects,
    fold_select.fold_select_into_dense,
    lower_input_transform.name_input_transform,
    materialize_layers.activation_layer,
    materialize_layers.affine_layer,
    materialize_layers.select_layer,
)


# A CorrectionSet's network (--format correctionlib) may start with input transforms:
# element-wise functions of input features that lwtnn's pipeline refuses. What is left of
# a model's features once some became transforms (a Concat of Slices of the input) is
# the input again. (Not in lwtnn's pipeline, whose files stay as they are.)
CORRECTIONLIB_PIPELINE: tuple[Pass, ...] = tuple(
    q for p in PIPELINE for q in (
        (lower_input_transform.lower_input_transform,)
        if p is lower_input_transform.name_input_transform else
        (p, fold_select.merge_concatenated_selects) if p is fold_select.merge_selects else
        (p,)))


def run_pipeline(ir: IRGraph, passes: tuple[Pass, ...] = PIPELINE,
                 observe: Optional[Observer] = None) -> None:
    """Apply the first pass that changes anything, then start again, until none does;
    ``observe`` hears of every change (see ``onnx2lwtnn.trace``)."""
    while any(p.run(ir, observe) for p in passes):
        pass
