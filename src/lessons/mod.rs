//! The primer's chapters as lessons: for each, a text, and one or more steps of a project to
//! open, one thing to do and the outcome the user should see, with how to recognise it from
//! the run's figures. The studio shows them beside the canvas; `tests/lessons.rs` runs every
//! step headless and checks its outcome. No egui here.

pub mod check;

pub use check::{Check, Evidence, Verdict};

use crate::project::{Project, ProjectError};

/// One thing to do in a lesson, on one project.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// A preset's name (`mlp-iris`, `lessons/overfit`).
    pub preset: &'static str,
    /// Settings changed from the preset, by path as in sweeps (`data.max_train_samples`).
    pub edits: &'static [(&'static str, &'static str)],
    pub task: &'static str,
    pub outcome: &'static str,
    pub check: Check,
}

impl Step {
    /// The step's project: the preset with its edits.
    pub fn project(&self) -> Result<Project, ProjectError> {
        let base = crate::presets::load(self.preset)?;
        if self.edits.is_empty() {
            return Ok(base);
        }
        let config = self
            .edits
            .iter()
            .map(|(k, v)| {
                let value = serde_json::from_str(v).unwrap_or_else(|_| (*v).into());
                (k.to_string(), value)
            })
            .collect();
        crate::runs::sweep::apply(&base, &config).map_err(|e| ProjectError::Invalid {
            path: std::path::PathBuf::from(self.preset),
            reason: e.to_string(),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    pub id: &'static str,
    /// The primer chapter it follows.
    pub chapter: &'static str,
    pub title: &'static str,
    /// Markdown.
    pub text: &'static str,
    pub steps: Vec<Step>,
}

/// Every lesson, in the primer's order.
pub fn all() -> Vec<Lesson> {
    vec![
        Lesson {
            id: "what-is-a-network",
            chapter: "1. What a neural network is",
            title: "A network draws a boundary",
            text: include_str!("../../assets/lessons/01-what-is-a-network.md"),
            steps: vec![Step {
                preset: "playground-spiral",
                edits: &[("training.epochs", "150")],
                task: "Press ▶ Train and watch the Data tab: the coloured regions are what the network predicts.",
                outcome: "The two spiral arms end up in regions of their own: test accuracy of 90 % or more.",
                check: Check::TestAccuracyAtLeast(0.90),
            }],
        },
        Lesson {
            id: "six-families",
            chapter: "2. The six families",
            title: "Six shapes of network",
            text: include_str!("../../assets/lessons/02-six-families.md"),
            steps: vec![Step {
                preset: "autoencoder-mnist",
                edits: &[("data.max_train_samples", "6000"), ("training.epochs", "3")],
                task: "Train the autoencoder, then open Insight ▸ Autoencoder and click on the latent plane.",
                outcome: "The reconstructions look like the inputs: the test reconstruction error falls below 0.06 (the mean image scores 0.067).",
                check: Check::TestLossBelow(0.06),
            }],
        },
        Lesson {
            id: "choosing-an-architecture",
            chapter: "3. Choosing an architecture",
            title: "Images want convolutions",
            text: include_str!("../../assets/lessons/03-choosing-an-architecture.md"),
            steps: vec![
                Step {
                    preset: "mlp-mnist",
                    edits: &[("data.max_train_samples", "10000"), ("training.epochs", "1")],
                    task: "Train the MLP for one epoch on 10,000 digits and note its test accuracy.",
                    outcome: "The MLP reads about nine digits in ten: test accuracy of 90 % or more.",
                    check: Check::TestAccuracyAtLeast(0.90),
                },
                Step {
                    preset: "cnn-mnist",
                    edits: &[("data.max_train_samples", "10000"), ("training.epochs", "1")],
                    task: "Now train the CNN on the same 10,000 digits for one epoch.",
                    outcome: "On the same digits the CNN does better: test accuracy of 95 % or more.",
                    check: Check::TestAccuracyAtLeast(0.95),
                },
            ],
        },
        Lesson {
            id: "training-workflow",
            chapter: "4. The training workflow",
            title: "Split, optimise, evaluate, test",
            text: include_str!("../../assets/lessons/04-training-workflow.md"),
            steps: vec![Step {
                preset: "mlp-iris",
                edits: &[],
                task: "Look at the split in the Data tab, the optimiser and loss in the inspector, then train.",
                outcome: "Validation accuracy guides the run and the untouched test split confirms it: test accuracy of 90 % or more.",
                check: Check::ValAndTestAccuracyAtLeast(0.90),
            }],
        },
        Lesson {
            id: "improving-a-model",
            chapter: "5. Improving a model",
            title: "Start from what another network learned",
            text: include_str!("../../assets/lessons/05-improving-a-model.md"),
            steps: vec![Step {
                preset: "cnn-transfer-5-9",
                edits: &[],
                task: "Train: the convolutions come frozen from a CNN trained on the digits 0–4 (🔒 on the canvas).",
                outcome: "From only 500 images of 5–9 the network reaches 95 % test accuracy or more.",
                check: Check::TestAccuracyAtLeast(0.95),
            }],
        },
        Lesson {
            id: "wrong-labels",
            chapter: "5. Improving a model",
            title: "Wrong labels: data first",
            text: include_str!("../../assets/lessons/05b-wrong-labels.md"),
            steps: vec![
                Step {
                    preset: "lessons/noisy-labels",
                    edits: &[],
                    task: "Train the MLP on digits whose training labels are a fifth wrong, then open the Data map tab and read its 'likely mislabelled' list.",
                    outcome: "The samples the map ranks likeliest mislabelled are mostly the flipped ones: 70 % or more of as many as were flipped.",
                    check: Check::DataMapFindsFlipped(0.70),
                },
                Step {
                    preset: "lessons/noisy-labels",
                    edits: &[],
                    task: "In the Data map, relabel the 250 likeliest mislabelled as the network predicts them ('Relabel as predicted'), then train again.",
                    outcome: "With the labels mended the same network reads more digits right: test accuracy of 95 % or more (93 % with the wrong labels).",
                    check: Check::TestAccuracyAtLeast(0.95),
                },
            ],
        },
        Lesson {
            id: "pitfall-overfitting",
            chapter: "6. Pitfalls: overfitting",
            title: "Learning by heart",
            text: include_str!("../../assets/lessons/06-pitfall-overfitting.md"),
            steps: vec![
                Step {
                    preset: "lessons/overfit",
                    edits: &[],
                    task: "Train the MLP on 200 digits and watch the validation loss on the loss chart.",
                    outcome: "Training loss keeps falling while validation loss turns up: the network learns the 200 digits, not digits.",
                    check: Check::ValLossRises,
                },
                Step {
                    preset: "lessons/overfit-dropout",
                    edits: &[],
                    task: "Open the fixed project (dropout after each hidden layer, strong weight decay, a gentler rate) and train again.",
                    outcome: "Validation loss keeps falling to the end, and ends below the overfit run's best (0.74).",
                    check: Check::ValLossKeepsFallingBelow(0.74),
                },
            ],
        },
        Lesson {
            id: "pitfall-vanishing-gradients",
            chapter: "7. Pitfalls: vanishing gradients",
            title: "Twelve sigmoids deep",
            text: include_str!("../../assets/lessons/07-pitfall-vanishing-gradients.md"),
            steps: vec![
                Step {
                    preset: "lessons/vanishing",
                    edits: &[("training.epochs", "10")],
                    task: "Train the 12-layer sigmoid network and open Insight ▸ Gradient health.",
                    outcome: "The first layer's gradient is under 1 % of the last layer's: the early layers hardly learn.",
                    check: Check::FirstLayerGradientBelow(0.01),
                },
                Step {
                    preset: "lessons/vanishing-fixed",
                    edits: &[("training.epochs", "10")],
                    task: "Open the fixed network: ReLU, and a skip connection around every layer. Train and look again.",
                    outcome: "The first layer's gradient is now 10 % of the last layer's or more.",
                    check: Check::FirstLayerGradientAtLeast(0.10),
                },
            ],
        },
        Lesson {
            id: "pitfall-divergence",
            chapter: "8. Pitfalls: a learning rate too large",
            title: "When the loss explodes",
            text: include_str!("../../assets/lessons/08-pitfall-divergence.md"),
            steps: vec![
                Step {
                    preset: "lessons/diverge",
                    edits: &[],
                    task: "Train at a learning rate of 10,000.",
                    outcome: "The run stops within a few steps as Diverged, naming the step and the learning rate.",
                    check: Check::Diverges,
                },
                Step {
                    preset: "lessons/diverge",
                    edits: &[("training.lr", "0.01")],
                    task: "Use inspector ▸ Find LR… (or set 0.01) and train again.",
                    outcome: "At a sane rate the same network trains: test accuracy of 90 % or more.",
                    check: Check::TestAccuracyAtLeast(0.90),
                },
            ],
        },
        Lesson {
            id: "deployment",
            chapter: "9. Deployment",
            title: "Out of the studio",
            text: include_str!("../../assets/lessons/09-deployment.md"),
            steps: vec![Step {
                preset: "mlp-iris",
                edits: &[],
                task: "Train, then File ▸ Export model ▸ ONNX… (or Run ▸ Serve predictions).",
                outcome: "A trained model leaves the studio: the export is written (and onnxruntime gives the same answers).",
                check: Check::Exported,
            }],
        },
        Lesson {
            id: "interpretation",
            chapter: "10. Interpretation",
            title: "What the network looks at",
            text: include_str!("../../assets/lessons/10-interpretation.md"),
            steps: vec![Step {
                preset: "cnn-mnist",
                edits: &[("data.max_train_samples", "10000"), ("training.epochs", "1")],
                task: "Train the CNN, then open Insight ▸ Saliency and compare the methods on a few digits.",
                outcome: "The saliency sits on the strokes of the digit, not the empty background (test accuracy 95 % or more first).",
                check: Check::TestAccuracyAtLeast(0.95),
            }],
        },
        Lesson {
            id: "nlp",
            chapter: "11. Language",
            title: "Generate and classify text",
            text: include_str!("../../assets/lessons/11-nlp.md"),
            steps: vec![
                Step {
                    preset: "transformer-finetune-text",
                    edits: &[("training.epochs", "1")],
                    task: "Train the character transformer on first names, then Insight ▸ Generate at temperatures 0.3, 1.0 and 1.6.",
                    outcome: "The loss falls below 2.6 nats per character; low temperatures repeat the likeliest names, high ones invent.",
                    check: Check::ValLossBelow(2.6),
                },
                Step {
                    preset: "cnn1d-text",
                    edits: &[],
                    task: "Train the 1-D CNN that reads a first name and guesses the gender, then type names in Insight ▸ Try it.",
                    outcome: "It beats guessing the majority (≈ 60 %): test accuracy of 75 % or more.",
                    check: Check::TestAccuracyAtLeast(0.75),
                },
            ],
        },
    ]
}

/// The lesson with id `id`.
pub fn find(id: &str) -> Option<Lesson> {
    all().into_iter().find(|l| l.id == id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_step_opens_a_valid_project() {
        let lessons = super::all();
        assert!(lessons.len() >= 10);
        for l in &lessons {
            assert!(!l.text.trim().is_empty(), "{}", l.id);
            for s in &l.steps {
                let p = s.project().unwrap_or_else(|e| panic!("{}: {e}", l.id));
                let a = crate::graph::analyze(&p.graph);
                assert!(a.is_ok(), "{} ({}): {:?}", l.id, s.preset, a.errors);
            }
        }
    }
}
