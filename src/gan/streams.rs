//! Every Philox stream a run draws from. A draw is a pure function of
//! (seed, stream, counter, index), so each use has a stream of its own and
//! a run replays bit for bit from its seed.

/// The noise of D's updates (counter: D's update number).
pub const Z_D: u32 = 1;
/// The noise of G's update (counter: the step number).
pub const Z_G: u32 = 2;
/// The real batch's indices into the data set (D's update number).
pub const INDICES: u32 = 3;
/// The labels of G's samples in a conditional GAN: in D's update, in G's.
pub const LABELS_D: u32 = 4;
pub const LABELS_G: u32 = 5;
/// The latents of the pictures a run writes and of `sample`.
pub const FIXED_Z: u32 = 9;
/// The latents `eval` scores (chunk i of rejection's pool: counter i).
pub const EVAL_Z: u32 = 10;
/// Discriminator rejection's acceptance draws (counter: the chunk).
pub const ACCEPT: u32 = 11;
/// Discriminator refinement's Langevin noise.
pub const REFINE: u32 = 12;
/// The initial weights of G and D (layer i: counters 2i and 2i + 1).
pub const INIT_G: u32 = 100;
pub const INIT_D: u32 = 200;

/// Every stream of a GAN's run, for the test that no two share a number.
pub const ALL: [(&str, u32); 11] = [
    ("Z_D", Z_D),
    ("Z_G", Z_G),
    ("INDICES", INDICES),
    ("LABELS_D", LABELS_D),
    ("LABELS_G", LABELS_G),
    ("FIXED_Z", FIXED_Z),
    ("EVAL_Z", EVAL_Z),
    ("ACCEPT", ACCEPT),
    ("REFINE", REFINE),
    ("INIT_G", INIT_G),
    ("INIT_D", INIT_D),
];

/// The classifier's training, a program of its own (its own seed): its
/// initial weights and its batches' indices.
pub const CLASSIFIER_INIT: u32 = 0;
pub const CLASSIFIER_BATCHES: u32 = 1;
