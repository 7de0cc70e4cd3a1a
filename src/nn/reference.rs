//! The whole-net f64 reference: each layer's reference forward and
//! backward in turn (no fusion), for the tests of passes, steps and
//! samplers.

use super::{Layer, Ref, RefKept, Shape, check};

/// A net's parameters in [`Net`](super::Net)'s order (per layer, as
/// [`LayerKind::params`](super::LayerKind::params) lists them) and, per
/// layer, its other state (running statistics).
#[derive(Clone, Debug)]
pub struct State {
    pub params: Vec<Vec<f64>>,
    pub buffers: Vec<Vec<Vec<f64>>>,
}

/// What a forward pass keeps for its backward pass.
pub struct Cache {
    /// The input of every layer, then the output.
    pub values: Vec<Vec<f64>>,
    /// What each layer kept.
    pub kept: Vec<Vec<Vec<f64>>>,
    /// The input shape of every layer.
    shapes: Vec<Shape>,
    /// Batch norm's groups.
    groups: usize,
}

impl Cache {
    /// The net's output.
    pub fn output(&self) -> &[f64] {
        self.values.last().expect("a forward pass has an output")
    }
}

/// Per layer, the range of its parameters in the state.
fn param_ranges(layers: &[Layer]) -> Vec<std::ops::Range<usize>> {
    let mut next = 0;
    layers
        .iter()
        .map(|l| {
            let first = next;
            next += l.kind().params().len();
            first..next
        })
        .collect()
}

/// The forward pass on `batch` samples of shape `input` (batch norm on
/// the batch's statistics, updating the running ones if `update_running`).
pub fn forward(
    layers: &[Layer],
    input: impl Into<Shape>,
    state: &mut State,
    x: &[f64],
    batch: usize,
    update_running: bool,
) -> Cache {
    forward_in_groups(layers, input, state, x, batch, update_running, 1)
}

/// [`forward`] with batch norm on `groups` equal groups of the rows, each
/// normalised on its own (their running statistics updated in turn).
pub fn forward_in_groups(
    layers: &[Layer],
    input: impl Into<Shape>,
    state: &mut State,
    x: &[f64],
    batch: usize,
    update_running: bool,
    groups: usize,
) -> Cache {
    let input = input.into();
    let ranges = param_ranges(layers);
    let mut cache = Cache {
        values: vec![x.to_vec()],
        kept: Vec::new(),
        shapes: Vec::new(),
        groups,
    };
    let mut shape = input;
    for (i, l) in layers.iter().enumerate() {
        let r = Ref {
            batch,
            input: shape,
            params: &state.params[ranges[i].clone()],
            groups,
        };
        let buffers = update_running.then_some(&mut state.buffers[i][..]);
        let (y, kept) = l
            .kind()
            .reference_forward(&r, buffers, cache.values.last().unwrap());
        cache.values.push(y);
        cache.kept.push(kept);
        cache.shapes.push(shape);
        shape = check(std::slice::from_ref(l), shape, "reference").expect("layers chain");
    }
    cache
}

/// The backward pass of [`forward`] from the output's gradient: the
/// parameter gradients (in the state's order) and the input's gradient.
pub fn backward(
    layers: &[Layer],
    state: &State,
    cache: &Cache,
    d_output: &[f64],
    batch: usize,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let ranges = param_ranges(layers);
    let mut grads: Vec<Vec<f64>> = state.params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut dy = d_output.to_vec();
    for (i, l) in layers.iter().enumerate().rev() {
        let r = Ref {
            batch,
            input: cache.shapes[i],
            params: &state.params[ranges[i].clone()],
            groups: cache.groups,
        };
        let kept = RefKept {
            x: &cache.values[i],
            y: &cache.values[i + 1],
            kept: &cache.kept[i],
        };
        let (g, dx) = l.kind().reference_backward(&r, &kept, &dy);
        for (k, g) in g.into_iter().enumerate() {
            grads[ranges[i].start + k] = g;
        }
        dy = dx;
    }
    (grads, dy)
}

/// A fresh state for `layers`: zero parameters, the buffers' initial values.
pub fn empty_state(layers: &[Layer]) -> State {
    State {
        params: (layers.iter())
            .flat_map(|l| l.kind().params())
            .map(|(_, s)| vec![0.0; s.iter().product()])
            .collect(),
        buffers: (layers.iter())
            .map(|l| {
                (l.kind().buffers().into_iter())
                    .map(|(_, s, v)| vec![v as f64; s.iter().product()])
                    .collect()
            })
            .collect(),
    }
}
