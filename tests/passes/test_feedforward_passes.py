"""One small hand-built IR graph per feed-forward pass: what it matches, what it leaves."""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn.exact import as_floats
from onnx2lwtnn.ir import IRGraph, Port
from onnx2lwtnn.passes import (drop_noops, fold_affine, fold_select, fuse_activation,
                               lower_activations, lower_dense, materialize_layers)

RNG = np.random.default_rng(0)


def graph_with_input(width: int = 3) -> tuple[IRGraph, Port]:
    ir = IRGraph(opset=13)
    node = ir.add("Input", shapes=[("N", width)], attrs={"name": "x", "dtype": 1})
    ir.inputs.append(node)
    return ir, Port(node)


def finish(ir: IRGraph, port: Port) -> str:
    node = ir.add("Output", [port], attrs={"name": "y"}, shapes=[ir.shape(port)])
    ir.outputs.append(node)
    return node


def dense(ir: IRGraph, source: Port, n_out: int, activation="linear") -> Port:
    weights = RNG.normal(size=(n_out, ir.features(source)))
    return Port(ir.add("Dense", [source], shapes=[("N", n_out)],
                       attrs={"weights": weights, "bias": RNG.normal(size=n_out),
                              "activation": activation}))


def affine(ir: IRGraph, source: Port, scale, shift) -> Port:
    return lower_activations.add_affine(ir, source, scale, shift, "affine")


def value(ir: IRGraph, node: str, key: str) -> np.ndarray:
    """An attribute's values as the document will hold them (exact ones rounded)."""
    return as_floats(ir.attrs(node)[key])


def output_source(ir: IRGraph) -> str:
    return ir.operand(ir.outputs[0], 0).node


def test_affine_folds_into_the_dense_before_it():
    ir, x = graph_with_input()
    d = dense(ir, x, 2)
    before = {k: v.copy() for k, v in ir.attrs(d.node).items() if k != "activation"}
    finish(ir, affine(ir, d, [2.0, -1.0], [0.5, 3.0]))
    assert fold_affine.fold_into_previous_dense.run(ir)
    assert output_source(ir) == d.node and ir.nodes("Affine") == []
    np.testing.assert_allclose(value(ir, d.node, "weights"), before["weights"] * [[2.0], [-1.0]])
    np.testing.assert_allclose(value(ir, d.node, "bias"), before["bias"] * [2.0, -1.0] + [0.5, 3.0])


def test_affine_does_not_fold_into_a_dense_with_an_activation():
    ir, x = graph_with_input()
    finish(ir, affine(ir, dense(ir, x, 2, "rectified"), 2.0, 0.0))
    assert not fold_affine.fold_into_previous_dense.run(ir)


def test_affine_on_an_input_becomes_its_offset_and_scale():
    ir, x = graph_with_input(2)
    finish(ir, affine(ir, x, [2.0, 4.0], [1.0, -2.0]))
    assert fold_affine.fold_into_input.run(ir)
    raw = RNG.normal(size=(5, 2))
    np.testing.assert_allclose((raw + value(ir, x.node, "offset")) * value(ir, x.node, "scale"),
                               raw * [2.0, 4.0] + [1.0, -2.0])


def test_affine_with_a_zero_scale_stays_off_the_input_and_becomes_a_diagonal_dense():
    ir, x = graph_with_input(2)
    finish(ir, affine(ir, x, [0.0, 4.0], [1.0, -2.0]))
    assert not fold_affine.fold_into_input.run(ir)
    assert materialize_layers.affine_layer.run(ir)
    assert ir.op(output_source(ir)) == "Dense"
    np.testing.assert_array_equal(value(ir, output_source(ir), "weights"), np.diag([0.0, 4.0]))
    np.testing.assert_array_equal(value(ir, output_source(ir), "bias"), [1.0, -2.0])


def test_affine_before_dense_layers_folds_into_each_reader():
    ir, x = graph_with_input(2)
    a = affine(ir, x, [2.0, 3.0], [1.0, 1.0])
    first, second = dense(ir, a, 2), dense(ir, a, 1)
    expected = {p.node: (ir.attrs(p.node)["weights"] * [2.0, 3.0],
                         ir.attrs(p.node)["bias"] + ir.attrs(p.node)["weights"] @ [1.0, 1.0])
                for p in (first, second)}
    finish(ir, Port(ir.add("Concatenate", [first, second], shapes=[("N", 3)])))
    assert fold_affine.fold_into_next_dense.run(ir)
    for node, (weights, bias) in expected.items():
        np.testing.assert_allclose(value(ir, node, "weights"), weights)
        np.testing.assert_allclose(value(ir, node, "bias"), bias)
        assert ir.operand(node, 0) == x


def test_consecutive_affines_merge():
    ir, x = graph_with_input(1)
    finish(ir, affine(ir, affine(ir, x, 2.0, 1.0), 3.0, -1.0))
    assert fold_affine.merge_affines.run(ir)
    (node,) = ir.nodes("Affine")
    assert value(ir, node, "scale")[0] == 6.0 and value(ir, node, "shift")[0] == 2.0


@pytest.mark.parametrize("alpha,beta,rescaled", [(0.2, 0.5, False), (1 / 6, 0.5, True),
                                                 (0.3, 0.4, True)])
def test_hard_sigmoid_is_rescaled_onto_lwtnn_fixed_slope(alpha, beta, rescaled):
    ir, x = graph_with_input(1)
    node = ir.add("HardSigmoid", [x], attrs={"alpha": alpha, "beta": beta},
                  shapes=[("N", 1)])
    finish(ir, Port(node))
    assert lower_activations.lower_hard_sigmoid.run(ir)
    affines = ir.nodes("Affine")
    assert bool(affines) == rescaled
    values = np.linspace(-6, 6, 101)
    pre = values
    if affines:
        pre = values * value(ir, affines[0], "scale") + value(ir, affines[0], "shift")
    lwtnn = np.clip(0.2 * pre + 0.5, 0, 1)
    np.testing.assert_allclose(lwtnn, np.clip(alpha * values + beta, 0, 1), atol=1e-7)


def test_softmax_over_the_batch_axis_is_refused_with_a_reason():
    ir, x = graph_with_input()
    node = ir.add("Softmax", [x], attrs={"axis": 0}, shapes=[("N", 3)])
    finish(ir, Port(node))
    assert not lower_activations.lower_softmax.run(ir)
    assert "mixes events" in ir[node]["refusal"]


def test_selection_folds_into_the_dense_that_reads_it_even_with_repeats():
    ir, x = graph_with_input(4)
    select = Port(ir.add("Select", [x], attrs={"indices": np.array([3, 0, 3])},
                         shapes=[("N", 3)]))
    d = dense(ir, select, 2)
    weights = ir.attrs(d.node)["weights"].copy()
    finish(ir, d)
    assert fold_select.fold_select_into_dense.run(ir)
    values = RNG.normal(size=(5, 4))
    folded = value(ir, d.node, "weights")
    np.testing.assert_allclose(values @ folded.T, values[:, [3, 0, 3]] @ weights.T)


def test_transposes_that_cancel_are_dropped_but_not_around_a_reshape():
    ir, x = graph_with_input(3)
    t1 = ir.add("Transpose", [x], attrs={"perm": [1, 0]}, shapes=[(3, "N")])
    t2 = ir.add("Transpose", [Port(t1)], attrs={"perm": [1, 0]}, shapes=[("N", 3)])
    finish(ir, Port(t2))
    assert drop_noops.drop_layout_chain.run(ir)
    assert ir.operand(ir.outputs[0], 0) == x

    ir, x = graph_with_input(3)
    t1 = ir.add("Transpose", [x], attrs={"perm": [1, 0]}, shapes=[(3, 1)])
    r = ir.add("Reshape", [Port(t1)], shapes=[(1, 3)])
    finish(ir, Port(r))
    assert not drop_noops.drop_layout_chain.run(ir)


def test_gemm_with_a_computed_weight_is_refused():
    ir, x = graph_with_input(3)
    node = ir.add("Gemm", [x, x], shapes=[("N", "N")])
    finish(ir, Port(node))
    assert not lower_dense.lower_gemm.run(ir)
    assert "computed at run time" in ir[node]["refusal"]


def test_activation_does_not_fuse_into_a_dense_read_twice():
    ir, x = graph_with_input(3)
    d = dense(ir, x, 2)
    act = ir.add("Activation", [d], attrs={"activation": "tanh"}, shapes=[("N", 2)])
    finish(ir, Port(ir.add("Concatenate", [d, Port(act)], shapes=[("N", 4)])))
    assert not fuse_activation.fuse_activation.run(ir)
    assert materialize_layers.activation_layer.run(ir)
    (layer,) = [n for n in ir.nodes("Dense") if n != d.node]
    assert ir.attrs(layer)["weights"].size == 0 and ir.attrs(layer)["activation"] == "tanh"
