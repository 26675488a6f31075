//! The "try it" engine: typed texts and drawings through trained classifiers, attention maps
//! recomputed exactly as the layer mixes, a GAN's noise interpolation, and the errors for
//! inputs that do not fit.

use glassbox::data::{encode_text, read_image_sample, Dataset, TokenKind};
use glassbox::graph::{Layer, Node};
use glassbox::insight::tryit::center_of_mass;
use glassbox::insight::{
    attention_maps, gan_interpolation, InsightHandle, InsightReply, InsightRequest,
};
use glassbox::model::{ForwardCtx, Model, Weights};
use glassbox::project::Project;
use glassbox::train::{TrainEvent, TrainHandle, TrainRequest};
use std::sync::Arc;
use std::time::Duration;

mod common;

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

fn train(p: &Project) -> (Arc<Dataset>, Weights) {
    let data = Arc::new(Dataset::load(&p.data, None).expect("data loads"));
    let mut req = TrainRequest::new(p.clone());
    req.dataset = Some(data.clone());
    let mut weights = None;
    let end = TrainHandle::spawn(req)
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| {
            if let TrainEvent::Finished { weights: w, .. } = e {
                weights = Some(w.clone());
            }
        })
        .expect("the run ends in time");
    let weights = weights.unwrap_or_else(|| panic!("training did not finish: {end:?}"));
    (data, weights)
}

/// One request, one reply (bounded: fails instead of waiting forever).
fn ask(h: &InsightHandle, r: InsightRequest) -> InsightReply {
    h.request(r);
    h.recv_timeout(Duration::from_secs(30))
        .expect("the insight thread answered")
}

fn error_of(reply: InsightReply) -> String {
    match reply {
        InsightReply::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_typed_text_is_classified_and_its_deciding_character_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::x_spotter(&dir);
    let (data, weights) = train(&p);
    let h = InsightHandle::spawn(p, data.clone(), weights, None).unwrap();
    let x = data.class_names().iter().position(|n| n == "x").unwrap();
    let InsightReply::TextClassified(v) = ask(
        &h,
        InsightRequest::ClassifyText {
            text: "abcxab".into(),
        },
    ) else {
        panic!("no verdict")
    };
    assert_eq!(v.tokens, ["a", "b", "c", "x", "a", "b"]);
    assert_eq!(v.class, x, "{v:?}");
    assert!(v.probs[x] > 0.9, "{v:?}");
    assert!((v.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    // Occluding the 'x' is what changes the verdict; every other character barely matters.
    let top = v
        .saliency
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    assert_eq!(top.0, 3, "{:?}", v.saliency);
    assert!(*top.1 > 0.5, "{:?}", v.saliency);
    let InsightReply::TextClassified(v) = ask(
        &h,
        InsightRequest::ClassifyText {
            text: "abcabca".into(),
        },
    ) else {
        panic!("no verdict")
    };
    assert_ne!(v.class, x, "{v:?}");
    // A text longer than the model reads is cut, and says so.
    let InsightReply::TextClassified(v) = ask(
        &h,
        InsightRequest::ClassifyText {
            text: "abcabcabcabcx".into(),
        },
    ) else {
        panic!("no verdict")
    };
    assert_eq!((v.tokens.len(), v.cut), (10, 3));
    assert!(error_of(ask(
        &h,
        InsightRequest::ClassifyText {
            text: String::new()
        }
    ))
    .contains("type some text"));
    let drawing = error_of(ask(
        &h,
        InsightRequest::ClassifyImage {
            raw: vec![0.0; 10],
            center: false,
        },
    ));
    assert!(drawing.contains("not an image classifier"), "{drawing}");
}

#[test]
fn a_drawing_is_classified_and_wrong_drawings_are_named() {
    let mut p = glassbox::presets::load("mlp-mnist").unwrap();
    p.data.max_train_samples = Some(4000);
    p.training.epochs = 2;
    let (data, weights) = train(&p);
    let h = InsightHandle::spawn(p, data.clone(), weights, None).unwrap();
    // A test digit, given back in raw pixels, is read as the model reads the test set.
    let i = data.test[0];
    let raw = data.raw_sample(i);
    let InsightReply::ImageClassified(v) = ask(
        &h,
        InsightRequest::ClassifyImage {
            raw: raw.clone(),
            center: false,
        },
    ) else {
        panic!("no verdict")
    };
    assert_eq!(v.probs.len(), 10);
    assert!((v.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(v.input, raw);
    assert_eq!(v.saliency.len(), 784);
    assert!(v.saliency.iter().any(|&s| s > 0.0));
    // Most of the test digits are read right (a 2-epoch MLP is at about 90 %).
    let right = data.test[..50]
        .iter()
        .filter(|&&i| {
            let InsightReply::ImageClassified(v) = ask(
                &h,
                InsightRequest::ClassifyImage {
                    raw: data.raw_sample(i),
                    center: true,
                },
            ) else {
                return false;
            };
            Some(v.class as u32) == data.label(i)
        })
        .count();
    assert!(
        right >= 40,
        "{right} of 50 test digits read right after centring"
    );
    let size = error_of(ask(
        &h,
        InsightRequest::ClassifyImage {
            raw: vec![0.0; 100],
            center: false,
        },
    ));
    assert!(
        size.contains("100 values") && size.contains("784"),
        "{size}"
    );
    let mut nan = raw.clone();
    nan[7] = f32::NAN;
    let nan = error_of(ask(
        &h,
        InsightRequest::ClassifyImage {
            raw: nan,
            center: false,
        },
    ));
    assert!(nan.contains("pixel 7"), "{nan}");
    let text = error_of(ask(
        &h,
        InsightRequest::ClassifyText {
            text: "hello".into(),
        },
    ));
    assert!(text.contains("text classifier"), "{text}");
}

#[test]
fn attention_maps_are_the_weights_the_layer_mixes_with() {
    let vocab = 12;
    let (t, d, heads) = (9, 16, 4);
    let attn = Node::new(
        "attn",
        Layer::SelfAttention {
            heads,
            causal: true,
        },
    );
    let graph = common::token_classifier(t, vocab, d, vec![attn], vocab);
    let model = Model::build(&graph, 5).unwrap();
    let ids: Vec<u32> = (0..t as u32).map(|i| (i * 5 + 2) % vocab as u32).collect();
    let maps = attention_maps(&model, &ids).unwrap();
    assert_eq!(maps.len(), 1);
    let m = &maps[0];
    assert_eq!((m.node.as_str(), m.heads, m.len), ("attn", heads, t));
    for h in 0..heads {
        for q in 0..t {
            let row: f32 = (0..t).map(|k| m.at(h, q, k)).sum();
            assert!(
                (row - 1.0).abs() < 1e-5,
                "row {q} of head {h} sums to {row}"
            );
            for k in q + 1..t {
                assert_eq!(m.at(h, q, k), 0.0, "causal: {q} sees {k}");
            }
        }
    }
    // The maps mix the values into exactly the layer's output: out = (Σ_k a_qk v_k) Woᵀ + bo.
    let x = candle_core::Tensor::from_vec(ids.clone(), (1, t), &candle_core::Device::Cpu).unwrap();
    let values = model.forward_all(&x, &mut ForwardCtx::eval()).unwrap();
    let get = |id: &str| -> Vec<Vec<f32>> {
        values
            .iter()
            .find(|(n, _)| n == id)
            .unwrap()
            .1
            .get(0)
            .unwrap()
            .to_vec2()
            .unwrap()
    };
    let (input, out) = (get("embed"), get("attn"));
    let w = model.weights().unwrap();
    let (wqkv, bqkv) = (
        &w.tensors["attn.qkv_weight"].data,
        &w.tensors["attn.qkv_bias"].data,
    );
    let (wo, bo) = (
        &w.tensors["attn.out_weight"].data,
        &w.tensors["attn.out_bias"].data,
    );
    let hd = d / heads;
    let v = |k: usize, j: usize| -> f32 {
        let row = 2 * d + j;
        bqkv[row] + (0..d).map(|i| input[k][i] * wqkv[row * d + i]).sum::<f32>()
    };
    let mut worst = 0f32;
    for (q, out_q) in out.iter().enumerate() {
        let mixed: Vec<f32> = (0..d)
            .map(|j| (0..t).map(|k| m.at(j / hd, q, k) * v(k, j)).sum())
            .collect();
        for (o, &got) in out_q.iter().enumerate() {
            let y = bo[o] + (0..d).map(|j| mixed[j] * wo[o * d + j]).sum::<f32>();
            worst = worst.max((y - got).abs());
        }
    }
    assert!(
        worst < 1e-4,
        "recomputed attention output differs by {worst}"
    );
    let none = Model::build(&common::token_classifier(t, vocab, d, Vec::new(), vocab), 1).unwrap();
    let e = attention_maps(&none, &ids).unwrap_err().to_string();
    assert!(e.contains("no self-attention layer"), "{e}");
}

#[test]
fn a_gan_interpolation_walks_smoothly_between_two_noise_vectors() {
    let p = glassbox::presets::load("gan-mnist").unwrap();
    let parts = glassbox::graph::gan_parts(&p.graph).unwrap();
    let weights = Model::build(&p.graph, 1).unwrap().weights().unwrap();
    let mut all = Model::build(&parts.generator, 1)
        .unwrap()
        .weights()
        .unwrap();
    all.tensors.extend(weights.tensors);
    let images = gan_interpolation(&p, &all, 8, 3).unwrap();
    assert_eq!(images.len(), 8);
    assert!(images.iter().all(|i| i.len() == 784));
    let dist = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
            .sqrt()
    };
    let ends = dist(&images[0], &images[7]);
    let step = images
        .windows(2)
        .map(|w| dist(&w[0], &w[1]))
        .fold(0f32, f32::max);
    assert!(
        ends > 0.0 && step < ends,
        "largest step {step}, ends {ends}"
    );
    assert_ne!(
        gan_interpolation(&p, &all, 8, 4).unwrap()[0],
        images[0],
        "the seed picks the pair"
    );
    assert!(gan_interpolation(&p, &all, 1, 3)
        .unwrap_err()
        .to_string()
        .contains("2 to 64"));
    let supervised = glassbox::presets::load("mlp-mnist").unwrap();
    assert!(gan_interpolation(&supervised, &all, 8, 3)
        .unwrap_err()
        .to_string()
        .contains("GAN"));
}

#[test]
fn drawings_are_centred_texts_encoded_and_dropped_images_read() {
    let dims = [1, 6, 6];
    let mut raw = vec![0f32; 36];
    raw[0] = 255.0; // top-left corner
    raw[1] = 255.0;
    let c = center_of_mass(&raw, &dims);
    let (y, x) = (
        c.iter().position(|&v| v > 0.0).unwrap() / 6,
        c.iter().position(|&v| v > 0.0).unwrap() % 6,
    );
    // Mass at (0, 0.5) moves by (round 2.5, round 2) to (3, 2.5): within half a pixel of 2.5.
    assert_eq!((y, x), (3, 2), "{c:?}");
    assert_eq!(c.iter().sum::<f32>(), 510.0);
    assert_eq!(center_of_mass(&[0.0; 36], &dims), vec![0.0; 36]);
    let vocab: Vec<String> = ["<pad>", "<unk>", "a", "b"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (ids, kept, cut) = encode_text("abza", TokenKind::Char, &vocab, 6);
    assert_eq!((ids, kept.len(), cut), (vec![2, 3, 1, 2, 0, 0], 4, 0));
    let dir = tempfile::tempdir().unwrap();
    // A dark digit on white paper comes in light on dark, as MNIST is.
    let mut img = image::GrayImage::from_pixel(8, 8, image::Luma([250]));
    img.put_pixel(3, 3, image::Luma([0]));
    let png = dir.path().join("digit.png");
    img.save(&png).unwrap();
    let v = read_image_sample(&png, &[1, 8, 8], true).unwrap();
    assert_eq!(v.len(), 64);
    assert!(v[3 * 8 + 3] > 200.0 && v[0] < 10.0, "{v:?}");
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = read_image_sample(&broken, &[1, 8, 8], true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("broken.png") && e.contains("not a readable"),
        "{e}"
    );
    let e = read_image_sample(&png, &[8], true).unwrap_err().to_string();
    assert!(e.contains("not images"), "{e}");
}

#[test]
fn slerp_keeps_the_noise_norm_and_ends_on_both_vectors() {
    let a = [3.0f32, 0.0, 0.0, 0.0];
    let b = [0.0f32, 0.0, 3.0, 0.0];
    let path = glassbox::insight::slerp_path(&a, &b, 5);
    let rows: Vec<&[f32]> = path.chunks(4).collect();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0], a);
    assert!(
        rows[4].iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5),
        "{:?}",
        rows[4]
    );
    for r in &rows {
        let n = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (n - 3.0).abs() < 1e-4,
            "norm {n} on the way (a straight line dips to 2.12)"
        );
    }
}

#[test]
fn every_request_gets_one_reply_and_a_broken_worker_answers_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::x_spotter(&dir);
    let (data, weights) = train(&p);
    let h = InsightHandle::spawn(p.clone(), data.clone(), weights, None).unwrap();
    // Requests of one kind replace each other in the queue; the replaced ones still answer.
    for text in ["ab", "abx", "abc", "xx"] {
        h.request(InsightRequest::ClassifyText { text: text.into() });
    }
    let replies: Vec<InsightReply> = (0..4)
        .map(|_| h.recv_timeout(Duration::from_secs(30)).expect("a reply"))
        .collect();
    assert!(
        h.recv_timeout(Duration::from_millis(200)).is_none(),
        "more replies than requests"
    );
    let InsightReply::TextClassified(last) = replies.last().unwrap() else {
        panic!("{replies:?}")
    };
    assert_eq!(
        last.tokens,
        ["x", "x"],
        "the newest request is the one answered last"
    );
    // Weights of another network: the worker cannot start, and says so to every request.
    let broken = InsightHandle::spawn(p, data, Weights::default(), None).unwrap();
    let first = error_of(
        broken
            .recv_timeout(Duration::from_secs(30))
            .expect("the start error"),
    );
    for _ in 0..2 {
        broken.request(InsightRequest::ClassifyText { text: "ab".into() });
        let e = error_of(
            broken
                .recv_timeout(Duration::from_secs(30))
                .expect("an answer"),
        );
        assert_eq!(e, first);
    }
    assert!(first.contains("has no tensor"), "{first}");
}

#[test]
fn attention_of_a_text_classifier_reads_the_padded_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::x_spotter(&dir);
    let attn = Node::new(
        "attn",
        Layer::SelfAttention {
            heads: 2,
            causal: false,
        },
    );
    p.graph = common::token_classifier(10, 6, 8, vec![attn, Node::new("flat", Layer::Flatten)], 2);
    p.training.epochs = 1;
    let (data, weights) = train(&p);
    let h = InsightHandle::spawn(p, data, weights, None).unwrap();
    // A Flatten → Dense head only takes the full length: the map is computed on the padded
    // row and cut to the text.
    let InsightReply::Attention { tokens, maps } = ask(
        &h,
        InsightRequest::Attention {
            text: "abxc".into(),
        },
    ) else {
        panic!("no maps")
    };
    assert_eq!(tokens, ["a", "b", "x", "c"]);
    let m = &maps[0];
    assert_eq!(
        (m.len, m.heads, m.causal, m.weights.len()),
        (4, 2, false, 2 * 16)
    );
    // Not causal: a query sees later keys too; the cut rows leave the padding's share out.
    assert!(m.at(0, 0, 3) > 0.0);
    let row: f32 = (0..4).map(|k| m.at(1, 2, k)).sum();
    assert!(row > 0.0 && row <= 1.0 + 1e-5, "{row}");
}
