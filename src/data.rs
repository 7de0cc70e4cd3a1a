//! Training data sets: 8-bit images (MNIST, Fashion-MNIST, any IDX file, a
//! folder of PNG/JPEG pictures) or 2-D points drawn from a Gaussian mixture
//! (the "ring" and "grid" toy problems of the mode-collapse literature).
//!
//! Everything here runs on the CPU, once, before training. Bad input of any
//! kind (a missing file, a truncated download, a file that is not what it
//! claims to be) comes back as a [`DataError`] whose message names the file
//! or flag and says what is wrong; nothing here panics on user data, and no
//! header can make us allocate more than [`MAX_BYTES`].

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::read::MultiGzDecoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageError, ImageReader, Limits};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The most bytes a data set (or one decompressed file) may occupy: 2 GiB.
/// A header promising more is refused before anything is allocated.
pub const MAX_BYTES: u64 = 1 << 31;

/// Image side length used for folders of images when `--size` is not given.
pub const DEFAULT_SIZE: u32 = 28;

/// Largest accepted `--size` (images are resized to size×size).
pub const MAX_SIZE: u32 = 1024;

/// Largest accepted width or height of an image in a folder, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Largest amount of memory one image decoder may allocate: 256 MiB.
pub const MAX_IMAGE_ALLOC: u64 = 256 << 20;

/// Number of points sampled for the "ring" and "grid" data sets.
pub const MIXTURE_POINTS: usize = 100_000;

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST.
pub const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The embedded MNIST subset (10,000 real digits, see data/mnist/PROVENANCE.md).
static MNIST_IMAGES_GZ: &[u8] = include_bytes!("../data/mnist/mnist10k-images-idx3-ubyte.gz");
static MNIST_LABELS_GZ: &[u8] = include_bytes!("../data/mnist/mnist10k-labels-idx1-ubyte.gz");

/// What a data set holds: 8-bit images or 2-D points.
#[derive(Clone, PartialEq)]
pub enum Samples {
    /// items × (channels·height·width) bytes, each image channel by
    /// channel (CHW, PyTorch's layout), 0..255.
    Images {
        /// Shared, so that a training step can read rows of a data set
        /// too large for the GPU without a copy of it.
        bytes: std::sync::Arc<Vec<u8>>,
        channels: usize,
        height: usize,
        width: usize,
    },
    /// items × 2 f32 coordinates.
    Points { xy: Vec<f32>, mixture: Mixture },
}

/// A loaded data set, ready to be batched.
#[derive(Clone, PartialEq)]
pub struct Dataset {
    /// Where it came from: "mnist (built in)", a path, "ring", ...
    pub name: String,
    /// Number of samples (images or points).
    pub items: usize,
    pub samples: Samples,
    /// One class label per item when known (digit, garment class, mixture mode).
    pub labels: Option<Vec<u8>>,
    /// The classes' names, where the data names them (an image folder's
    /// class folders); label i is class_names[i].
    pub class_names: Vec<String>,
    /// What loading noticed and the user should hear (files skipped).
    pub notes: Vec<String>,
}

impl Dataset {
    /// Values per sample: channels·height·width for images, 2 for points.
    pub fn features(&self) -> usize {
        match &self.samples {
            Samples::Images {
                channels,
                height,
                width,
                ..
            } => channels * height * width,
            Samples::Points { .. } => 2,
        }
    }

    /// The number of classes: one more than the largest label (0 without
    /// labels).
    pub fn classes(&self) -> usize {
        self.labels
            .as_ref()
            .and_then(|l| l.iter().max())
            .map_or(0, |&m| m as usize + 1)
    }

    /// `(channels, height, width)` for image sets, `None` for points.
    pub fn image_shape(&self) -> Option<(usize, usize, usize)> {
        match &self.samples {
            Samples::Images {
                channels,
                height,
                width,
                ..
            } => Some((*channels, *height, *width)),
            Samples::Points { .. } => None,
        }
    }
}

// Hand-written so that printing a data set shows its shape, not megabytes of pixels.
impl fmt::Debug for Samples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Samples::Images {
                bytes,
                channels,
                height,
                width,
            } => write!(
                f,
                "Images {{ {} bytes, channels: {channels}, height: {height}, width: {width} }}",
                bytes.len()
            ),
            Samples::Points { xy, mixture } => {
                write!(
                    f,
                    "Points {{ {} points, mixture: {mixture:?} }}",
                    xy.len() / 2
                )
            }
        }
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("name", &self.name)
            .field("items", &self.items)
            .field("samples", &self.samples)
            .field(
                "labels",
                &self.labels.as_ref().map(|l| format!("{} labels", l.len())),
            )
            .finish()
    }
}

/// Everything that can go wrong while loading a data set. Each message names
/// the file (or the flag) and the problem, and says how to fix it where it can.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "--data {path}: no such file or folder; pass mnist, fashion, ring, grid, \
         an IDX images file (e.g. train-images-idx3-ubyte.gz) or a folder of PNG/JPEG images"
    )]
    NotFound { path: PathBuf },

    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{path}: the gzip data is truncated or corrupt ({source}); \
         the download or copy is probably incomplete, fetch the file again"
    )]
    Gzip {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{path}: decompresses to more than {limit} bytes, the most a data set may hold; \
         use a smaller file"
    )]
    DecompressedTooLarge { path: PathBuf, limit: u64 },

    #[error(
        "{what}: wrong magic number 0x{magic:08x}: an IDX file starts with 00 00 08 <ndims> \
         (images 0x00000803, labels 0x00000801); is this really an IDX file?"
    )]
    BadMagic { what: String, magic: u32 },

    #[error(
        "{what}: IDX element type 0x{code:02x} ({name}) is not supported, only unsigned bytes \
         (0x08) are; convert the data to 8-bit"
    )]
    UnsupportedType {
        what: String,
        code: u8,
        name: &'static str,
    },

    #[error(
        "{what}: truncated IDX header: {ndims} dimensions need {needed} header bytes \
         but the file has only {present} bytes; the file is incomplete, fetch it again"
    )]
    TruncatedHeader {
        what: String,
        ndims: usize,
        needed: usize,
        present: usize,
    },

    #[error(
        "{what}: the IDX header promises dimensions {dims:?} = {promised} data bytes, \
         more than the {limit} bytes a data set may hold; the header is corrupt or the set is too big"
    )]
    IdxTooLarge {
        what: String,
        dims: Vec<usize>,
        promised: String,
        limit: u64,
    },

    #[error(
        "{what}: truncated IDX file: the header promises {items} items (dimensions {dims:?}, \
         {promised} data bytes) but only {present} data bytes are present; \
         the file is incomplete, fetch it again"
    )]
    IdxTruncated {
        what: String,
        dims: Vec<usize>,
        items: usize,
        promised: usize,
        present: usize,
    },

    #[error(
        "{what}: {extra} bytes follow the {promised} data bytes the IDX header describes \
         (dimensions {dims:?}); the header does not match the data"
    )]
    IdxTrailing {
        what: String,
        dims: Vec<usize>,
        promised: usize,
        extra: usize,
    },

    #[error("{what}: IDX dimensions {dims:?} do not fit: {problem}")]
    IdxShape {
        what: String,
        dims: Vec<usize>,
        problem: String,
    },

    #[error(
        "{labels}: holds {label_count} labels but {images} holds {image_count} images; \
         they must belong together (remove or rename the labels file to load the images without labels)"
    )]
    LabelMismatch {
        images: PathBuf,
        labels: PathBuf,
        image_count: usize,
        label_count: usize,
    },

    #[error(
        "{path}: the folder holds no images{hint}; put PNG or JPEG files in it \
         (hidden files are skipped) or pass another --data"
    )]
    EmptyFolder { path: PathBuf, hint: String },

    #[error(
        "{path}: not a PNG or JPEG image ({reason}); remove it from the folder \
         or move the images to a folder of their own"
    )]
    NotAnImage { path: PathBuf, reason: String },

    #[error(
        "{path}: the class folder holds {found}; every class needs at least 2 images \
         (add images, or move the folder out of {root})"
    )]
    SmallClass {
        path: PathBuf,
        root: PathBuf,
        found: String,
    },

    #[error(
        "{path}: {classes} class folders, more than the {max} a conditional GAN takes; \
         merge classes, or train on one class folder at a time"
    )]
    TooManyClasses {
        path: PathBuf,
        classes: usize,
        max: usize,
    },

    #[error("--background {value}: give white, black or a colour as #rrggbb")]
    BadBackground { value: String },

    #[error(
        "{path}: the image is too large to load ({source}); images up to {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} \
         pixels and {MAX_IMAGE_ALLOC} decoded bytes are accepted, shrink it first"
    )]
    ImageTooLarge {
        path: PathBuf,
        #[source]
        source: ImageError,
    },

    #[error(
        "{path}: the image cannot be decoded ({source}); it may be corrupt, re-save it or remove it"
    )]
    ImageDecode {
        path: PathBuf,
        #[source]
        source: ImageError,
    },

    #[error(
        "{path}: {items} images of {size}×{size}×{channels} would need more than {limit} bytes; \
         use a smaller --size or fewer images"
    )]
    FolderTooLarge {
        path: PathBuf,
        items: usize,
        size: u32,
        channels: usize,
        limit: u64,
    },

    #[error("--size {size}: must be between 1 and {MAX_SIZE}")]
    BadSize { size: u32 },

    #[error(
        "--data fashion: Fashion-MNIST not found in {dir} (looked for train-images-idx3-ubyte[.gz] \
         and t10k-images-idx3-ubyte[.gz]); install it with `apt-get install dataset-fashion-mnist` \
         or pass the path of an IDX images file with --data"
    )]
    FashionMissing { dir: PathBuf },
}

pub type Result<T> = std::result::Result<T, DataError>;

/// `spec` is what the user gave to --data: "mnist" (built in), "fashion"
/// (Fashion-MNIST from [`FASHION_DIR`]), "ring", "grid", or a path: an IDX
/// images file (gzip or not; labels are loaded from a sibling whose name has
/// "labels-idx1" in place of "images-idx3", when it exists), or a folder of
/// PNG/JPEG images.
///
/// `size`: for image folders, every image is resized (Triangle filter) to
/// size×size; `None` = 28. Ignored for IDX files and the built-in sets,
/// which keep their own size (but a bad value is still refused).
/// `color`: for image folders, true keeps RGB (channels 3), false converts to
/// grayscale (channels 1). Ignored elsewhere.
/// `seed`: for the mixtures, which are sampled ([`MIXTURE_POINTS`] points)
/// deterministically from it.
pub fn load(spec: &str, size: Option<u32>, color: bool, seed: u64) -> Result<Dataset> {
    let opts = LoadOptions {
        size,
        color,
        seed,
        ..LoadOptions::default()
    };
    load_with(spec, &opts)
}

/// How a data set is loaded (see [`load`]).
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub size: Option<u32>,
    pub color: bool,
    /// What images with an alpha channel are composited onto.
    pub background: [u8; 3],
    pub seed: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            size: None,
            color: false,
            background: [255; 3],
            seed: 0,
        }
    }
}

/// `--background`: white, black or #rrggbb.
pub fn parse_background(value: &str) -> Result<[u8; 3]> {
    let bad = || DataError::BadBackground {
        value: value.to_string(),
    };
    match value.to_ascii_lowercase().as_str() {
        "white" => Ok([255; 3]),
        "black" => Ok([0; 3]),
        v => {
            let hex = v
                .strip_prefix('#')
                .filter(|h| h.len() == 6)
                .ok_or_else(bad)?;
            let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
            Ok([byte(0)?, byte(2)?, byte(4)?])
        }
    }
}

/// [`load`] with every option.
pub fn load_with(spec: &str, opts: &LoadOptions) -> Result<Dataset> {
    let (color, seed) = (opts.color, opts.seed);
    let size = opts.size.unwrap_or(DEFAULT_SIZE);
    if size == 0 || size > MAX_SIZE {
        return Err(DataError::BadSize { size });
    }
    match spec {
        "mnist" => Ok(builtin_mnist()),
        "fashion" => load_fashion_from(Path::new(FASHION_DIR)),
        "ring" => Ok(mixture_dataset("ring", Mixture::ring(), seed)),
        "grid" => Ok(mixture_dataset("grid", Mixture::grid(), seed)),
        _ => {
            let path = Path::new(spec);
            // `metadata` follows symlinks; any failure here means we cannot use the path.
            match fs::metadata(path) {
                Ok(m) if m.is_dir() => load_image_folder(path, size, color, opts.background),
                Ok(_) => load_idx_images(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(DataError::NotFound {
                    path: path.to_path_buf(),
                }),
                Err(source) => Err(DataError::Io {
                    path: path.to_path_buf(),
                    source,
                }),
            }
        }
    }
}

/// The 10,000 real MNIST digits embedded in the binary (see
/// data/mnist/PROVENANCE.md), with their labels. Parsed once, then cloned.
///
/// Panics only if the embedded bytes are corrupt, which a test guards.
pub fn builtin_mnist() -> Dataset {
    static MNIST: OnceLock<Dataset> = OnceLock::new();
    MNIST
        .get_or_init(|| {
            let name = "mnist (built in)";
            let images = gunzip(MNIST_IMAGES_GZ, Path::new("mnist10k-images-idx3-ubyte.gz"))
                .and_then(|b| parse_idx(&b, "mnist10k-images-idx3-ubyte.gz"))
                .and_then(|(dims, data)| {
                    images_from_idx(dims, data, "mnist10k-images-idx3-ubyte.gz")
                })
                .expect("embedded MNIST images are corrupt");
            let labels = gunzip(MNIST_LABELS_GZ, Path::new("mnist10k-labels-idx1-ubyte.gz"))
                .and_then(|b| parse_idx(&b, "mnist10k-labels-idx1-ubyte.gz"))
                .and_then(|(dims, data)| {
                    labels_from_idx(dims, data, "mnist10k-labels-idx1-ubyte.gz")
                })
                .expect("embedded MNIST labels are corrupt");
            assert_eq!(
                images.items,
                labels.len(),
                "embedded MNIST: image and label counts differ"
            );
            Dataset {
                name: name.to_string(),
                labels: Some(labels),
                class_names: (0..10).map(|d| d.to_string()).collect(),
                ..images
            }
        })
        .clone()
}

/// Loads Fashion-MNIST from `dir` (normally [`FASHION_DIR`]): the training
/// split when present, else the test split, each gzipped or not.
pub fn load_fashion_from(dir: &Path) -> Result<Dataset> {
    for stem in ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"] {
        for suffix in [".gz", ""] {
            let path = dir.join(format!("{stem}{suffix}"));
            if path.is_file() {
                let mut set = load_idx_images(&path)?;
                set.name = format!("fashion ({})", path.display());
                return Ok(set);
            }
        }
    }
    Err(DataError::FashionMissing {
        dir: dir.to_path_buf(),
    })
}

/// Parses an IDX file's bytes (already decompressed) and returns its
/// dimensions and its data.
///
/// The format: 2 zero bytes, a type byte (only 0x08, unsigned byte, is
/// accepted), a byte giving the number of dimensions, one big-endian u32 per
/// dimension, then the data, row-major. MNIST images are 0x00000803 (3
/// dimensions: items, rows, columns), labels 0x00000801 (1 dimension).
/// `what` names the file in error messages.
pub fn parse_idx(bytes: &[u8], what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let what = what.to_string();
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        // Pad short files with zeros so the message still shows what was there.
        let mut head = [0u8; 4];
        let n = bytes.len().min(4);
        head[..n].copy_from_slice(&bytes[..n]);
        return Err(DataError::BadMagic {
            what,
            magic: u32::from_be_bytes(head),
        });
    }
    let (code, ndims) = (bytes[2], bytes[3] as usize);
    if code != 0x08 {
        let name = match code {
            0x09 => "signed byte",
            0x0B => "16-bit integer",
            0x0C => "32-bit integer",
            0x0D => "32-bit float",
            0x0E => "64-bit float",
            _ => {
                return Err(DataError::BadMagic {
                    what,
                    magic: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                });
            }
        };
        return Err(DataError::UnsupportedType { what, code, name });
    }
    if ndims == 0 {
        return Err(DataError::BadMagic {
            what,
            magic: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        });
    }

    // The dimensions: ndims ≤ 255, so the header is at most 1,024 bytes.
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::TruncatedHeader {
            what,
            ndims,
            needed: header,
            present: bytes.len(),
        });
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();

    // How many data bytes the header promises, guarded against overflow and
    // against absurd sizes before anything is allocated.
    let promised = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let promised = match promised {
        Some(p) if p <= MAX_BYTES => p as usize,
        Some(p) => {
            return Err(DataError::IdxTooLarge {
                what,
                dims,
                promised: p.to_string(),
                limit: MAX_BYTES,
            });
        }
        None => {
            return Err(DataError::IdxTooLarge {
                what,
                dims,
                promised: "more than 2^64".to_string(),
                limit: MAX_BYTES,
            });
        }
    };

    let present = bytes.len() - header;
    if present < promised {
        return Err(DataError::IdxTruncated {
            what,
            items: dims[0],
            dims,
            promised,
            present,
        });
    }
    if present > promised {
        return Err(DataError::IdxTrailing {
            what,
            dims,
            promised,
            extra: present - promised,
        });
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Reads a file, gunzipping it when it starts with the gzip magic 1f 8b.
/// The decompressed size is capped at [`MAX_BYTES`].
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_path_buf(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(&bytes, path)
    } else {
        Ok(bytes)
    }
}

/// Decompresses gzip data (all members), refusing output beyond [`MAX_BYTES`].
/// `path` only names the data in errors.
fn gunzip(compressed: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // Read one byte past the limit so that "exactly at the limit" and
    // "beyond it" can be told apart.
    MultiGzDecoder::new(compressed)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    if out.len() as u64 > MAX_BYTES {
        return Err(DataError::DecompressedTooLarge {
            path: path.to_path_buf(),
            limit: MAX_BYTES,
        });
    }
    Ok(out)
}

/// Turns parsed IDX images into a data set: dimensions [items, height, width]
/// (grayscale) or [items, height, width, channels] with 1 or 3 channels.
fn images_from_idx(dims: Vec<usize>, bytes: Vec<u8>, what: &str) -> Result<Dataset> {
    let shape_error = |dims: &[usize], problem: &str| DataError::IdxShape {
        what: what.to_string(),
        dims: dims.to_vec(),
        problem: problem.to_string(),
    };
    let (items, height, width, channels) = match dims[..] {
        [n, h, w] => (n, h, w, 1),
        [n, h, w, c] if c == 1 || c == 3 => (n, h, w, c),
        [_, _, _, _] => {
            return Err(shape_error(
                &dims,
                "a 4-D images file must be [items, height, width, channels] with 1 or 3 channels",
            ));
        }
        [_] => {
            return Err(shape_error(
                &dims,
                "one dimension: this looks like a labels file; pass the images-idx3 file instead",
            ));
        }
        _ => {
            return Err(shape_error(
                &dims,
                "an images file must be [items, height, width] (magic 0x00000803)",
            ));
        }
    };
    if items == 0 || height == 0 || width == 0 {
        return Err(shape_error(&dims, "the file holds no pixels"));
    }
    // IDX stores a colour pixel's channels together; samples are CHW.
    let bytes = if channels > 1 {
        bytes
            .chunks_exact(height * width * channels)
            .flat_map(|img| to_chw(img, channels))
            .collect()
    } else {
        bytes
    };
    Ok(Dataset {
        name: what.to_string(),
        items,
        samples: Samples::Images {
            bytes: bytes.into(),
            channels,
            height,
            width,
        },
        labels: None,
        class_names: Vec::new(),
        notes: Vec::new(),
    })
}

/// Checks that parsed IDX data is a 1-D labels file and returns the labels.
fn labels_from_idx(dims: Vec<usize>, data: Vec<u8>, what: &str) -> Result<Vec<u8>> {
    if dims.len() != 1 {
        return Err(DataError::IdxShape {
            what: what.to_string(),
            dims,
            problem: "a labels file must have one dimension (magic 0x00000801)".to_string(),
        });
    }
    Ok(data)
}

/// An images data set from the bytes of an IDX file (gzip or not); `what`
/// names it in errors. The whole path from bytes to images, for fuzzing.
pub fn idx_images_from_bytes(bytes: &[u8], what: &str) -> Result<Dataset> {
    let plain;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        plain = gunzip(bytes, Path::new(what))?;
        &plain[..]
    } else {
        bytes
    };
    let (dims, data) = parse_idx(bytes, what)?;
    images_from_idx(dims, data, what)
}

/// Loads an IDX images file, plus its labels when a sibling file with
/// "labels-idx1" in place of "images-idx3" exists.
fn load_idx_images(path: &Path) -> Result<Dataset> {
    let mut set = idx_images_from_bytes(&read_maybe_gzip(path)?, &path.display().to_string())?;

    if let Some(labels_path) = labels_sibling(path).filter(|p| p.is_file()) {
        let labels_what = labels_path.display().to_string();
        let (dims, data) = parse_idx(&read_maybe_gzip(&labels_path)?, &labels_what)?;
        let labels = labels_from_idx(dims, data, &labels_what)?;
        if labels.len() != set.items {
            return Err(DataError::LabelMismatch {
                images: path.to_path_buf(),
                labels: labels_path,
                image_count: set.items,
                label_count: labels.len(),
            });
        }
        set.labels = Some(labels);
    }
    Ok(set)
}

/// The labels file that belongs to an images file, by the MNIST naming
/// convention (train-images-idx3-ubyte.gz → train-labels-idx1-ubyte.gz).
fn labels_sibling(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    name.contains("images-idx3")
        .then(|| images.with_file_name(name.replace("images-idx3", "labels-idx1")))
}

/// The file extensions read as images; other files in an image folder
/// (a README, a PROVENANCE.md) are skipped, as torchvision's ImageFolder
/// skips what its name says is no image.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// A folder's entries that are not hidden: (image files, other files,
/// sub-folders), each sorted by name.
fn folder_entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>)> {
    let io_error = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let (mut images, mut others, mut folders) = (Vec::new(), Vec::new(), Vec::new());
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue; // hidden: .DS_Store, editor swap files, ...
        }
        let path = entry.path();
        if path.is_dir() {
            folders.push(path);
        } else if is_image_name(&path) {
            images.push(path);
        } else {
            others.push(path);
        }
    }
    images.sort();
    others.sort();
    folders.sort();
    Ok((images, others, folders))
}

/// Loads an image folder, each image resized to size×size, as grayscale
/// or RGB, composited onto `background` where it has an alpha channel.
///
/// In torchvision's ImageFolder layout (`root/<class>/*.png`) the classes
/// are the sub-folders, sorted by name, and each image is labelled with
/// its folder's; an empty class folder, or one of a single image, is
/// refused. Otherwise the folder's own images are loaded, unlabelled.
/// Files whose names are not of images are skipped and counted in the
/// data set's notes; a file named as an image that does not decode is an
/// error.
fn load_image_folder(dir: &Path, size: u32, color: bool, background: [u8; 3]) -> Result<Dataset> {
    let (root_images, mut skipped, folders) = folder_entries(dir)?;
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let mut labels = Vec::new();
    let mut class_names = Vec::new();
    let classes: Vec<(PathBuf, Vec<PathBuf>)> = folders
        .iter()
        .map(|f| {
            let (images, others, _) = folder_entries(f)?;
            skipped.extend(others);
            Ok((f.clone(), images))
        })
        .collect::<Result<_>>()?;
    if classes.iter().any(|(_, images)| !images.is_empty()) {
        if classes.len() > 256 {
            return Err(DataError::TooManyClasses {
                path: dir.to_path_buf(),
                classes: classes.len(),
                max: 256,
            });
        }
        for (label, (folder, images)) in classes.into_iter().enumerate() {
            if images.len() < 2 {
                let found = match images.len() {
                    0 => "no PNG or JPEG image".to_string(),
                    _ => "a single image".to_string(),
                };
                return Err(DataError::SmallClass {
                    path: folder,
                    root: dir.to_path_buf(),
                    found,
                });
            }
            let name = folder
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            class_names.push(name);
            labels.extend(std::iter::repeat_n(label as u8, images.len()));
            files.extend(images);
        }
        if !root_images.is_empty() {
            notes.push(format!(
                "skipped {} images directly in {} (not in a class folder)",
                root_images.len(),
                dir.display()
            ));
        }
    } else {
        files = root_images;
    }
    if !skipped.is_empty() {
        notes.push(format!(
            "skipped {} files whose names are not of PNG or JPEG images (such as {})",
            skipped.len(),
            skipped[0].display()
        ));
    }
    if files.is_empty() {
        let hint = if folders.is_empty() {
            String::new()
        } else {
            format!(" (its {} sub-folders hold none either)", folders.len())
        };
        return Err(DataError::EmptyFolder {
            path: dir.to_path_buf(),
            hint,
        });
    }

    let channels = if color { 3 } else { 1 };
    let per_image = size as u64 * size as u64 * channels as u64;
    if per_image * files.len() as u64 > MAX_BYTES {
        return Err(DataError::FolderTooLarge {
            path: dir.to_path_buf(),
            items: files.len(),
            size,
            channels,
            limit: MAX_BYTES,
        });
    }

    let mut bytes = Vec::with_capacity(per_image as usize * files.len());
    for file in &files {
        let rgb = composited(decode_image(file)?, background);
        let img = if color {
            image::DynamicImage::ImageRgb8(rgb)
        } else {
            image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(rgb).to_luma8())
        };
        let img = if img.width() == size && img.height() == size {
            img
        } else {
            img.resize_exact(size, size, FilterType::Triangle)
        };
        if color {
            bytes.extend(to_chw(img.to_rgb8().as_raw(), 3));
        } else {
            bytes.extend_from_slice(img.to_luma8().as_raw());
        }
    }

    Ok(Dataset {
        name: dir.display().to_string(),
        items: files.len(),
        samples: Samples::Images {
            bytes: bytes.into(),
            channels,
            height: size as usize,
            width: size as usize,
        },
        labels: (!labels.is_empty()).then_some(labels),
        class_names,
        notes,
    })
}

/// An image as RGB, its alpha (if any) composited onto `background`.
fn composited(img: DynamicImage, background: [u8; 3]) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as u32;
        let mix = |c: u8, b: u8| ((c as u32 * a + b as u32 * (255 - a) + 127) / 255) as u8;
        image::Rgb([
            mix(p[0], background[0]),
            mix(p[1], background[1]),
            mix(p[2], background[2]),
        ])
    })
}

/// One image's pixels, channels together (HWC), as channel planes (CHW).
fn to_chw(pixels: &[u8], channels: usize) -> Vec<u8> {
    let n = pixels.len() / channels;
    (0..channels)
        .flat_map(|c| (0..n).map(move |i| pixels[i * channels + c]))
        .collect()
}

/// Decodes one PNG or JPEG file (recognised by its content, not its name)
/// under size limits, so a header claiming huge dimensions is refused
/// before the pixels are allocated.
fn decode_image(path: &Path) -> Result<DynamicImage> {
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    decode_with_limits(reader, path)
}

/// Decodes an image held in memory as a folder's file would be (for
/// fuzzing); `name` stands for its path in errors.
pub fn decode_image_bytes(bytes: &[u8], name: &str) -> Result<DynamicImage> {
    let path = Path::new(name);
    let reader = ImageReader::new(io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    decode_with_limits(reader, path)
}

fn decode_with_limits<R: io::BufRead + io::Seek>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<DynamicImage> {
    if reader.format().is_none() {
        return Err(DataError::NotAnImage {
            path: path.to_path_buf(),
            reason: "its content is not a recognised image format".to_string(),
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    let mut reader = reader;
    reader.limits(limits);
    reader.decode().map_err(|source| match source {
        ImageError::Limits(_) => DataError::ImageTooLarge {
            path: path.to_path_buf(),
            source,
        },
        ImageError::Unsupported(_) => DataError::NotAnImage {
            path: path.to_path_buf(),
            reason: source.to_string(),
        },
        _ => DataError::ImageDecode {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// A Gaussian mixture in the plane: equal-weight modes sharing one
/// isotropic standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    pub modes: Vec<[f32; 2]>,
    pub std: f32,
}

impl Mixture {
    /// 8 Gaussians on the unit circle at angles 2πk/8, std 0.01 (the
    /// PacGAN / VEEGAN protocol).
    pub fn ring() -> Mixture {
        let modes = (0..8)
            .map(|k| {
                let a = 2.0 * std::f64::consts::PI * k as f64 / 8.0;
                [a.cos() as f32, a.sin() as f32]
            })
            .collect();
        Mixture { modes, std: 0.01 }
    }

    /// 25 Gaussians at {-4, -2, 0, 2, 4}², std 0.05.
    pub fn grid() -> Mixture {
        let axis = [-4.0f32, -2.0, 0.0, 2.0, 4.0];
        let modes = axis
            .iter()
            .flat_map(|&x| axis.iter().map(move |&y| [x, y]))
            .collect();
        Mixture { modes, std: 0.05 }
    }

    /// `n` points (n×2 values, x then y), deterministic for a given seed.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        self.sample_with_modes(n, seed).0
    }

    /// Like [`Mixture::sample`] (same points for the same seed), also
    /// returning the index of the mode each point was drawn from.
    ///
    /// Each point picks a mode uniformly, then adds N(0, std²) noise per
    /// coordinate (Box-Muller on two uniforms). An empty mixture puts every
    /// point at the origin.
    pub fn sample_with_modes(&self, n: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut xy = Vec::with_capacity(n * 2);
        let mut which = Vec::with_capacity(n);
        for _ in 0..n {
            if self.modes.is_empty() {
                xy.extend_from_slice(&[0.0, 0.0]);
                which.push(0);
                continue;
            }
            let k = rng.random_range(0..self.modes.len());
            // Box-Muller: u1 in (0, 1] so that ln(u1) is finite.
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * u2;
            let std = self.std as f64;
            let [mx, my] = self.modes[k];
            xy.push((mx as f64 + std * r * theta.cos()) as f32);
            xy.push((my as f64 + std * r * theta.sin()) as f32);
            which.push(k);
        }
        (xy, which)
    }

    /// Half-width of a square centred on the origin that holds every mode
    /// with a margin: 1.5 × the largest coordinate (1.5 for the ring, 6 for
    /// the grid), at least 1.
    pub fn extent(&self) -> f32 {
        let reach = self
            .modes
            .iter()
            .flatten()
            .map(|c| c.abs())
            .fold(0.0f32, f32::max);
        (1.5 * reach).max(1.0)
    }
}

/// The length scale of a built-in data set's samples, where one is known:
/// the mixtures' component standard deviation (discriminator refinement's
/// step size follows it).
pub fn length_scale(data: &str) -> Option<f32> {
    match data {
        "ring" => Some(Mixture::ring().std),
        "grid" => Some(Mixture::grid().std),
        _ => None,
    }
}

/// A data set of [`MIXTURE_POINTS`] points from `mixture`, labelled with the
/// mode each was drawn from.
fn mixture_dataset(name: &str, mixture: Mixture, seed: u64) -> Dataset {
    let (xy, which) = mixture.sample_with_modes(MIXTURE_POINTS, seed);
    let labels = (mixture.modes.len() <= 256).then(|| which.iter().map(|&k| k as u8).collect());
    Dataset {
        name: name.to_string(),
        items: MIXTURE_POINTS,
        samples: Samples::Points { xy, mixture },
        labels,
        class_names: Vec::new(),
        notes: Vec::new(),
    }
}

impl crate::gan::TrainingData for Dataset {
    fn name(&self) -> &str {
        &self.name
    }

    fn items(&self) -> usize {
        self.items
    }

    fn features(&self) -> usize {
        Dataset::features(self)
    }

    fn values(&self) -> crate::gan::Values<'_> {
        match &self.samples {
            Samples::Images { bytes, .. } => crate::gan::Values::Bytes(bytes),
            Samples::Points { xy, .. } => crate::gan::Values::Floats(xy),
        }
    }

    fn labels(&self) -> Option<&[u8]> {
        self.labels.as_deref()
    }

    fn shared_bytes(&self) -> Option<std::sync::Arc<Vec<u8>>> {
        match &self.samples {
            Samples::Images { bytes, .. } => Some(bytes.clone()),
            Samples::Points { .. } => None,
        }
    }
}
