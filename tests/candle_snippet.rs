//! The candle snippet the PyTorch export writes beside its .py: checked-in copies of what the
//! generator writes for three presets are compiled here, and must compute what Glassbox does.
//! After changing the generator, rewrite them with GLASSBOX_BLESS=1 and review the diff.

use candle_core::{DType, Device, Tensor};
use glassbox::deploy::candle_code::candle_source;
use glassbox::model::{ForwardCtx, Model};
use glassbox::presets;
use rand::{Rng, SeedableRng};

mod cnn_mnist {
    include!("snippets/cnn_mnist_candle.rs");
}
mod vae_mnist {
    include!("snippets/vae_mnist_candle.rs");
}
mod cnn1d_text {
    include!("snippets/cnn1d_text_candle.rs");
}

fn golden(
    preset: &str,
) -> (
    glassbox::project::Project,
    Model,
    candle_nn::VarBuilder<'static>,
) {
    let project = presets::load(preset).unwrap();
    let source = candle_source(&project).unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/snippets/{}_candle.rs",
        preset.replace('-', "_")
    ));
    if std::env::var("GLASSBOX_BLESS").as_deref() == Ok("1") {
        std::fs::write(&file, &source).unwrap();
    }
    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(
        on_disk,
        source,
        "{} is stale: rerun with GLASSBOX_BLESS=1",
        file.display()
    );
    let model = Model::build(&project.graph, 3).unwrap();
    let bytes = model.weights().unwrap().to_bytes().unwrap();
    let vb =
        candle_nn::VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu).unwrap();
    (project, model, vb)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

#[test]
fn the_candle_snippets_compile_and_compute_what_glassbox_does() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let images: Vec<f32> = (0..4 * 784).map(|_| rng.random_range(-1.0..1.0)).collect();
    let images = Tensor::from_vec(images, (4, 1, 28, 28), &Device::Cpu).unwrap();

    let (_, model, vb) = golden("cnn-mnist");
    let ours = model.forward(&images, &mut ForwardCtx::eval()).unwrap();
    let theirs = cnn_mnist::Model::load(vb)
        .unwrap()
        .forward(&images)
        .unwrap();
    assert!(
        max_diff(&ours, &theirs) < 1e-4,
        "cnn-mnist: {}",
        max_diff(&ours, &theirs)
    );

    let (_, model, vb) = golden("vae-mnist");
    let ours = model.forward(&images, &mut ForwardCtx::eval()).unwrap();
    let theirs = vae_mnist::Model::load(vb)
        .unwrap()
        .forward(&images)
        .unwrap();
    assert!(
        max_diff(&ours, &theirs) < 1e-5,
        "vae-mnist: {}",
        max_diff(&ours, &theirs)
    );

    let (project, model, vb) = golden("cnn1d-text");
    let t = model.input_shape().dims[0];
    let vocab = project.graph.nodes.iter().find_map(|n| match n.layer {
        glassbox::graph::Layer::Embedding { vocab, .. } => Some(vocab as u32),
        _ => None,
    });
    let ids: Vec<u32> = (0..4 * t)
        .map(|_| rng.random_range(0..vocab.unwrap()))
        .collect();
    let ids = Tensor::from_vec(ids, (4, t), &Device::Cpu).unwrap();
    let ours = model.forward(&ids, &mut ForwardCtx::eval()).unwrap();
    let theirs = cnn1d_text::Model::load(vb).unwrap().forward(&ids).unwrap();
    assert!(
        max_diff(&ours, &theirs) < 1e-4,
        "cnn1d-text: {}",
        max_diff(&ours, &theirs)
    );
}

#[test]
fn a_layer_the_snippet_cannot_write_is_named() {
    let err = candle_source(&presets::load("lstm-moby-dick").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("'lstm'") && err.contains("PyTorch"), "{err}");
}
