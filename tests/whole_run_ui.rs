//! The run seen as a whole, in the studio: the data map, the loss landscape and the embedding
//! projector, driven as a user would (egui_kittest).

mod common;

use common::ui::{has_text, press, train_to_the_end, trained, wait_for};
use egui_kittest::kittest::Queryable;
use glassbox::presets;

#[test]
fn click_a_data_map_point_see_the_sample_keep_it_out_and_undo() {
    use glassbox::ui::datamap_view::DataMapPanel;
    let mut h = trained(presets::load("mlp-iris").unwrap());
    h.get_by_label("Data map").click();
    h.run_steps(3);
    let map = h
        .state()
        .session
        .history
        .as_ref()
        .and_then(|r| r.datamap.clone())
        .expect("the run kept a data map")
        .1;
    let train = h.state().data.dataset.as_ref().unwrap().train.len();
    assert_eq!(map.points.len(), train);
    // The sample the map ranks most likely mislabelled, clicked where it is drawn.
    let target = map.likely_mislabelled(1)[0].index;
    let at = h
        .state()
        .panels
        .get::<DataMapPanel>()
        .unwrap()
        .screen_pos_of(&map, target)
        .expect("the map was drawn");
    h.hover_at(at);
    h.step();
    press(&h, at, true);
    h.step();
    press(&h, at, false);
    h.run_steps(2);
    let picked = h.state().panels.get::<DataMapPanel>().unwrap().selected;
    assert_eq!(picked, Some(target), "the click picked another sample");
    let place = h.state().data.dataset.as_ref().unwrap().origin(target);
    assert!(
        has_text(&h, &format!("Sample {place}: labelled")),
        "the sample is not shown"
    );

    h.get_by_label("Keep out of training").click();
    h.run_steps(2);
    assert_eq!(
        h.state().doc.project.data.edits.excluded,
        vec![place.clone()]
    );
    assert!(h.state().is_dirty(), "an edit of the project");
    // The data reloads without it: the next run trains on one sample fewer.
    assert!(
        wait_for(&mut h, 20.0, |s| s
            .data
            .dataset
            .as_ref()
            .is_some_and(|d| d.train.len() == train - 1)),
        "the data did not reload without the sample"
    );
    assert!(has_text(&h, "1 sample(s) kept out of training"));
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert!(
        h.state().doc.project.data.edits.is_empty(),
        "undo left the edit"
    );
}

/// The lesson's digits with a fifth of the training labels flipped: "Relabel as predicted" on
/// the 250 likeliest mislabelled changes that many labels in one undoable edit, most of them
/// back to the truth.
#[test]
fn relabel_the_likeliest_mislabelled_as_predicted_in_one_undoable_step() {
    use glassbox::ui::datamap_view::DataMapPanel;
    let mut h = trained(presets::load("lessons/noisy-labels").unwrap());
    h.get_by_label("Data map").click();
    h.run_steps(3);
    h.state_mut().panels.get_mut::<DataMapPanel>().unwrap().bulk = Some(250);
    h.run_steps(1);
    assert!(h.state().doc.project.data.edits.is_empty());
    h.get_by_label("Relabel as predicted").click();
    h.run_steps(2);
    let edits = h.state().doc.project.data.edits.clone();
    assert!(
        (200..=250).contains(&edits.relabelled.len()),
        "{} relabelled",
        edits.relabelled.len()
    );
    // The relabels undo a flip far more often than not: the file holds the true digit.
    let data = h.state().data.dataset.clone().unwrap();
    let flipped: std::collections::HashSet<String> =
        data.flipped.iter().map(|&i| data.origin(i)).collect();
    let mended = edits
        .relabelled
        .iter()
        .filter(|(place, _)| flipped.contains(place))
        .count();
    assert!(
        mended * 10 >= edits.relabelled.len() * 9,
        "{mended} of {}",
        edits.relabelled.len()
    );
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert!(
        h.state().doc.project.data.edits.is_empty(),
        "undo left the relabels"
    );
}

type Studio = egui_kittest::Harness<'static, glassbox::ui::Studio>;

fn landscape(h: &Studio) -> &glassbox::ui::landscape_view::LandscapePanel {
    h.state().panels.get().unwrap()
}

/// Run ▸ Loss landscape…, settled (a side panel settles its width over its first frames), at
/// 9 cells a side.
fn open_landscape(h: &mut Studio) {
    use glassbox::ui::landscape_view::LandscapePanel;
    h.get_by_label("Run").click();
    h.run_steps(2);
    h.get_by_label("Loss landscape…").click();
    h.run_steps(5);
    h.state_mut()
        .panels
        .get_mut::<LandscapePanel>()
        .unwrap()
        .spec
        .grid = 9;
}

/// Presses Compute and waits for the slice.
fn compute_landscape(h: &mut Studio) -> glassbox::insight::Landscape {
    use glassbox::ui::landscape_view::LandscapePanel;
    h.get_by_label("Compute").click();
    h.step();
    assert!(
        wait_for(h, 60.0, |s| s
            .panels
            .get::<LandscapePanel>()
            .is_some_and(|p| p.result.is_some() && !p.is_running())),
        "no landscape in time"
    );
    h.run_steps(2);
    landscape(h).result.clone().unwrap()
}

/// Presses a line's button and waits for the line: (where it starts, the line).
fn line_by(h: &mut Studio, button: &str) -> (String, glassbox::insight::LossLine) {
    use glassbox::ui::landscape_view::LandscapePanel;
    h.get_by_label(button).click();
    h.step();
    assert!(
        wait_for(h, 60.0, |s| s
            .panels
            .get::<LandscapePanel>()
            .is_some_and(|p| p.line.is_some() && !p.is_running())),
        "no line in time"
    );
    h.run_steps(2);
    landscape(h).line.clone().unwrap()
}

#[test]
fn the_loss_landscape_is_computed_in_the_background_and_drawn_around_the_weights() {
    let mut h = trained(presets::load("mlp-iris").unwrap());
    open_landscape(&mut h);
    let land = compute_landscape(&mut h);
    assert_eq!(land.loss.len(), 9);
    let (r, c) = land.lowest();
    assert!(
        r.abs_diff(4) <= 1 && c.abs_diff(4) <= 1,
        "lowest at ({r}, {c})"
    );
    assert!(land.loss[0][0] > land.loss[4][4]);
    assert!(has_text(&h, "loss at the trained weights"));
    // The line from the initial weights falls into the trained weights' basin.
    assert!(!has_text(&h, "from the initial weights"));
    let (_, line) = line_by(&mut h, "Line from the start");
    let at = |alpha: f32| {
        line.points
            .iter()
            .find(|p| (p.0 - alpha).abs() < 1e-3)
            .unwrap()
            .1
    };
    assert!(at(0.0) > 3.0 * at(1.0), "{line:?}");
    assert!(has_text(&h, "no barrier: one basin"));
}

/// Two recorded runs of one network (two seeds): the landscape on the second run's own path
/// plane draws the path from its start to the trained weights, and the line from the first
/// run's weights to the second's is computed from the run picked in the panel.
#[test]
fn the_landscape_draws_the_runs_path_and_a_line_from_another_run() {
    use glassbox::insight::Plane;
    use glassbox::ui::landscape_view::LandscapePanel;
    let dir = tempfile::tempdir().unwrap();
    let mut iris = presets::load("mlp-iris").unwrap();
    iris.training.epochs = 20;
    let mut h = common::ui::harness(iris);
    h.state_mut().keep.runs.record = true;
    h.state_mut().keep.runs.fallback_dir = Some(dir.path().to_path_buf());
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "no data"
    );
    for seed in [1, 2] {
        h.state_mut().doc.project.training.seed = seed;
        train_to_the_end(&mut h, 60.0);
        h.run_steps(3);
    }
    open_landscape(&mut h);
    h.get_by_label("the path's plane").click();
    h.run_steps(3);
    assert!(!has_text(&h, "this plane holds"));
    let land = compute_landscape(&mut h);
    assert_eq!(land.plane, Plane::Path);
    assert_eq!(
        land.path.len(),
        21,
        "before the first epoch and after each of 20"
    );
    assert!(land.path_share.unwrap() > 0.5, "{:?}", land.path_share);
    assert!(has_text(&h, "this plane holds"));
    // The older run (seed 1), picked from the list, to this one.
    assert!(!has_text(&h, "from run"));
    h.state_mut()
        .panels
        .get_mut::<LandscapePanel>()
        .unwrap()
        .other_run = Some(1);
    h.run_steps(1);
    let button = h.get_by_label("Line from that run").rect();
    assert!(
        button.right() <= 1500.0,
        "the button is off the window: {button:?}"
    );
    let (from, line) = line_by(&mut h, "Line from that run");
    assert!(from.starts_with("run "), "{from}");
    assert!(has_text(&h, "from run "));
    // Both ends are trained networks; the line is not the one from the initial weights.
    assert!(line.at(0.0) < 0.3 && line.at(1.0) < 0.3, "{line:?}");
}

#[test]
fn the_projector_lays_a_layer_on_a_plane_and_lists_a_clicked_samples_neighbours() {
    use glassbox::ui::projector_view::{ProjectorPanel, NEIGHBOURS};
    let mut h = trained(presets::load("mlp-iris").unwrap());
    assert!(!has_text(&h, "nearest in the layer"));
    h.get_by_label("Projector").click();
    h.run_steps(2);
    assert_eq!(
        panel(&h).node.as_deref(),
        Some("relu2"),
        "the features the classifier reads"
    );
    h.get_by_label("t-SNE").click();
    h.run_steps(1);
    h.get_by_label("▶ Project").click();
    h.step();
    assert!(
        wait_for(&mut h, 60.0, |s| s
            .panels
            .get::<ProjectorPanel>()
            .is_some_and(|p| p.result.is_some() && !p.is_running())),
        "no projection in time"
    );
    h.run_steps(3);
    let proj = panel(&h).result.clone().unwrap();
    let test = h.state().data.dataset.as_ref().unwrap().test.len();
    assert_eq!(proj.samples.len(), test, "one point per test flower");
    let trust = proj.trustworthiness.expect("measured");
    assert!(trust > 0.85, "trustworthiness {trust}");
    assert!(
        has_text(&h, &format!("trustworthiness {trust:.3}")),
        "the figure is not shown"
    );
    // Hover a point, then click it: its sample and its neighbours in the layer are listed.
    // The point nearest the plot's centre (the legend covers a corner).
    let centre = panel(&h)
        .transform
        .as_ref()
        .expect("drawn")
        .frame()
        .center();
    let target = (0..proj.samples.len())
        .min_by(|&a, &b| {
            let d = |i| panel(&h).screen_pos_of(i).unwrap().distance(centre);
            d(a).total_cmp(&d(b))
        })
        .unwrap();
    let at = panel(&h).screen_pos_of(target).expect("drawn");
    h.hover_at(at);
    h.run_steps(2);
    let data = h.state().data.dataset.clone().unwrap();
    let place = data.origin(proj.samples[target]);
    assert!(
        has_text(&h, &format!("under the pointer: sample {place}")),
        "hovering names no sample"
    );
    press(&h, at, true);
    h.step();
    press(&h, at, false);
    h.run_steps(2);
    assert_eq!(
        panel(&h).selected,
        Some(target),
        "the click picked another point"
    );
    assert!(has_text(&h, &format!("{NEIGHBOURS} nearest in the layer")));
    let near = proj.neighbours(target, NEIGHBOURS);
    assert_eq!(near.len(), NEIGHBOURS);
    // Listed nearest first, as the layer's distances order them.
    assert!(near.windows(2).all(|w| w[0].1 <= w[1].1));
    let first = data.origin(proj.samples[near[0].0]);
    assert!(
        has_text(&h, &format!("sample {first} ")),
        "the nearest neighbour is not listed"
    );
}

fn panel<'a>(
    h: &'a egui_kittest::Harness<'static, glassbox::ui::Studio>,
) -> &'a glassbox::ui::projector_view::ProjectorPanel {
    h.state().panels.get().unwrap()
}
