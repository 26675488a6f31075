//! The family views driven as a user would (egui_kittest): a language model's generation box,
//! and an autoencoder's reconstructions and latent plane.

use egui::{Event, Key, Modifiers, PointerButton, Pos2};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use glassbox::data::{DataSettings, DataSource, SplitSettings};
use glassbox::graph::{DType, Graph, Layer, Loss, Node, Target};
use glassbox::project::Project;
use glassbox::ui::Studio;

mod common;
use common::ui::{harness, has_text, train_then_open_insight, wait_for};

fn click(h: &mut Harness<'static, Studio>, at: Pos2) {
    h.hover_at(at);
    h.step();
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos: at,
            button: PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        h.step();
    }
}

fn char_model(dir: &tempfile::TempDir) -> Project {
    let path = dir.path().join("tale.txt");
    let text = "it was the best of times, it was the worst of times, it was the age of wisdom. "
        .repeat(12);
    // The characters of the text, and pad/unknown.
    let vocab = 2 + text
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    std::fs::write(&path, text).unwrap();
    let nodes = vec![
        Node::new(
            "input",
            Layer::Input {
                shape: vec![16],
                dtype: DType::TokenId,
            },
        ),
        Node::new("embed", Layer::Embedding { vocab, dim: 16 }),
        Node::new(
            "gru",
            Layer::Gru {
                hidden: 48,
                sequences: true,
            },
        ),
        Node::new(
            "head",
            Layer::Dense {
                units: vocab,
                bias: true,
            },
        ),
        Node::new(
            "output",
            Layer::Output {
                loss: Loss::CrossEntropy,
                target: Target::Label,
            },
        ),
    ];
    let mut p = Project {
        name: "tale".into(),
        graph: Graph::chain(nodes),
        data: DataSettings {
            source: DataSource::TextLm {
                path: path.display().to_string(),
                context: 16,
                stride: 4,
                carry_state: false,
                vocab_from: None,
            },
            split: SplitSettings {
                test: 0.1,
                ..SplitSettings::default()
            },
            ..DataSettings::default()
        },
        ..Project::default()
    };
    p.training.lr = 0.01;
    p.training.epochs = 6;
    p
}

#[test]
fn the_generation_box_continues_a_prompt_and_names_unknown_characters() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(char_model(&dir));
    train_then_open_insight(&mut h, 60.0);
    h.get_by_label("Generate text").click();
    h.run_steps(2);
    // The samples generated while training are listed.
    assert!(has_text(&h, "Samples while training"));
    assert!(has_text(&h, "epoch 6"));
    h.state_mut().insight.family.prompt = "it was the".into();
    h.get_by_label("Generate").click();
    assert!(
        wait_for(&mut h, 20.0, |s| s.insight.family.generated.is_some()),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    let (text, _) = h.state().insight.family.generated.clone().unwrap();
    assert!(
        text.starts_with("it was the") && text.chars().count() > 200,
        "{text:?}"
    );
    assert!(has_text(&h, "generated in"));
    h.state_mut().insight.family.prompt = "it was £".into();
    h.get_by_label("Generate").click();
    assert!(wait_for(&mut h, 20.0, |s| s.insight.error.is_some()));
    h.run_steps(2);
    assert!(has_text(&h, "never saw"), "{:?}", h.state().insight.error);
    assert!(has_text(&h, "'£'"));
}

#[test]
fn a_click_on_the_latent_plane_decodes_that_point() {
    let mut p = glassbox::presets::load("autoencoder-mnist").unwrap();
    p.data.max_train_samples = Some(3_000);
    p.training.epochs = 1;
    let mut h = harness(p);
    train_then_open_insight(&mut h, 60.0);
    assert!(has_text(&h, "Autoencoder"));
    assert!(
        !has_text(&h, "Saliency & explanations"),
        "classifier views on an autoencoder"
    );
    assert!(
        wait_for(&mut h, 20.0, |s| s.insight.family.latent.is_some()
            && s.insight.family.outputs.is_some()
            && s.insight.family.strip.is_some()),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    assert!(has_text(&h, "inputs / reconstructions"));
    assert!(has_text(&h, "latent 'latent'"));
    let f = &h.state().insight.family;
    assert_eq!(f.latent.as_ref().unwrap().points.len(), 1000);
    assert_eq!(f.outputs.as_ref().unwrap().images.len(), 8);
    assert!(f.decoded.is_none());
    let plane = f.plane_rect.expect("the plane was drawn");
    click(&mut h, plane.center());
    assert!(
        wait_for(&mut h, 10.0, |s| s.insight.family.decoded.is_some()),
        "{:?}",
        h.state().insight.error
    );
    let picked = h.state().insight.family.picked.unwrap();
    let map = h.state().insight.family.latent.clone().unwrap();
    for (p, r) in [(picked[0], map.x_range), (picked[1], map.y_range)] {
        assert!(p > r[0] && p < r[1], "the centre {p} is not inside {r:?}");
    }
    let img = &h.state().insight.family.decoded.as_ref().unwrap().images[0];
    assert_eq!(img.len(), 784);
    assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
    // A point far from every code is refused with a reason.
    glassbox::ui::insight::pick_latent_point(h.state_mut(), [1e6, -1e6]);
    h.run_steps(2);
    assert!(has_text(&h, "lies outside the codes"));
}

#[test]
fn the_gan_grid_refreshes_while_the_generator_learns() {
    let mut p = glassbox::presets::load("gan-mnist").unwrap();
    p.data.max_train_samples = Some(3_000);
    p.training.epochs = 2;
    let mut h = harness(p);
    // The two players are framed on the canvas under their group names.
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "the data did not load"
    );
    h.get_by_label("▶ Train").click();
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    h.run_steps(2);
    assert!(has_text(&h, "GAN"));
    assert!(
        !has_text(&h, "Saliency & explanations"),
        "classifier views on a GAN"
    );
    let first_step = {
        assert!(
            wait_for(&mut h, 30.0, |s| s
                .session
                .history
                .as_ref()
                .is_some_and(|r| r.generated.is_some())),
            "no samples arrived"
        );
        h.state()
            .session
            .history
            .as_ref()
            .unwrap()
            .generated
            .as_ref()
            .unwrap()
            .0
    };
    h.run_steps(2);
    assert!(has_text(&h, "samples from fixed noise, step"));
    assert!(
        wait_for(&mut h, 60.0, |s| s.session.weights.is_some()
            && !s.is_training()),
        "training did not finish"
    );
    h.run_steps(2);
    let r = h.state().session.history.clone().unwrap();
    let (last_step, dims, images) = r.generated.clone().unwrap();
    assert!(last_step > first_step, "the grid was not refreshed");
    assert_eq!((dims, images.len()), (vec![1, 28, 28], 100));
    for name in ["discriminator loss", "generator loss", "D(x)", "D(G(z))"] {
        let series = r.metrics.get(name).expect(name);
        assert_eq!(series.len(), r.step, "{name}: one value per step");
    }
    assert!(has_text(
        &h,
        &format!("samples from fixed noise, step {last_step}")
    ));
    // Interpolation between two noise vectors, and another pair on demand.
    h.get_by_label("Interpolate").click();
    assert!(
        wait_for(&mut h, 20.0, |s| s.insight.family.interpolation.is_some()),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    let first = h.state().insight.family.interpolation.clone().unwrap();
    assert_eq!(
        (first.dims.clone(), first.images.len()),
        (vec![1, 28, 28], 10)
    );
    h.get_by_label("Another pair").click();
    assert!(wait_for(&mut h, 20.0, |s| s
        .insight
        .family
        .interpolation
        .as_ref()
        .is_some_and(|i| i.images[0] != first.images[0])));
}

#[test]
fn carrying_the_state_is_a_checkbox_that_sets_the_stride() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(char_model(&dir));
    h.get_by_label("Data").click();
    h.run_steps(2);
    let carries = |h: &Harness<'static, Studio>| match &h.state().doc.project.data.source {
        DataSource::TextLm {
            carry_state,
            stride,
            context,
            ..
        } => (*carry_state, *stride, *context),
        other => panic!("{other:?}"),
    };
    assert_eq!(carries(&h), (false, 4, 16));
    h.get_by_label("Carry the state across windows").click();
    h.run_steps(2);
    // Windows that follow each other: the stride becomes the context.
    assert_eq!(carries(&h), (true, 16, 16));
}
