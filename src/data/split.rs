//! Splitting a data set into training, validation and test samples (stratified, seeded, or by
//! position for one text), and keeping only some classes.

use super::dataset::Targets;
use super::error::DataError;
use super::settings::SplitSettings;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Train, validation and test indices.
type Splits = (Vec<usize>, Vec<usize>, Vec<usize>);

/// Renumbers the classes named in `wanted` 0, 1, … in that order and says, per sample,
/// whether it belongs to one of them.
pub(super) fn keep_classes(
    targets: &mut Targets,
    wanted: &[String],
    name: &str,
) -> Result<Vec<bool>, DataError> {
    let Targets::Classes { labels, names } = targets else {
        return Err(DataError::Settings(format!(
            "{name} has numeric targets, not classes: clear the class filter"
        )));
    };
    let mut new_id = vec![None; names.len()];
    for (k, w) in wanted.iter().enumerate() {
        let Some(old) = names.iter().position(|n| n == w) else {
            return Err(DataError::Settings(format!(
                "{name} has no class '{w}'; its classes are {}",
                names.join(", ")
            )));
        };
        new_id[old] = Some(k as u32);
    }
    let keep = labels
        .iter_mut()
        .map(|l| match new_id.get(*l as usize).copied().flatten() {
            Some(k) => {
                *l = k;
                true
            }
            None => false,
        })
        .collect();
    *names = wanted.to_vec();
    Ok(keep)
}

/// Each split fraction on its own in [0, 1).
fn check_fractions(settings: &SplitSettings) -> Result<(), DataError> {
    for (name, f) in [("validation", settings.validation), ("test", settings.test)] {
        if !(0.0..1.0).contains(&f) {
            return Err(DataError::Settings(format!(
                "the {name} fraction is {f}; it must be at least 0 and below 1"
            )));
        }
    }
    Ok(())
}

/// Train, validation, test by position (windows of one text must not straddle the splits).
pub(super) fn split_contiguous(n: usize, settings: &SplitSettings) -> Result<Splits, DataError> {
    check_fractions(settings)?;
    let total = settings.validation + settings.test;
    if !(0.0..1.0).contains(&total) {
        return Err(DataError::Settings(format!(
            "validation ({}) and test ({}) fractions add up to {total}: nothing is left to train on",
            settings.validation, settings.test
        )));
    }
    let n_test = (n as f32 * settings.test) as usize;
    let n_val = (n as f32 * settings.validation) as usize;
    let n_train = n - n_test - n_val;
    Ok((
        (0..n_train).collect(),
        (n_train..n_train + n_val).collect(),
        (n_train + n_val..n).collect(),
    ))
}

pub(super) fn split(
    n: usize,
    source_test_start: Option<usize>,
    targets: &Targets,
    settings: &SplitSettings,
) -> Result<Splits, DataError> {
    check_fractions(settings)?;
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let (pool, mut test, val_frac) = match source_test_start {
        Some(s) if settings.use_source_test => (
            (0..s).collect::<Vec<_>>(),
            (s..n).collect(),
            settings.validation,
        ),
        _ => {
            let total = settings.validation + settings.test;
            if total >= 1.0 {
                return Err(DataError::Settings(format!(
                    "validation ({}) and test ({}) fractions add up to {total}: nothing is left to train on",
                    settings.validation, settings.test
                )));
            }
            // Carve the test set first, then the validation share of what remains.
            let all: Vec<usize> = (0..n).collect();
            let (rest, test) = carve(all, settings.test, targets, settings.stratify, &mut rng);
            let val_of_rest = settings.validation / (1.0 - settings.test);
            (rest, test, val_of_rest)
        }
    };
    let (mut train, mut val) = carve(pool, val_frac, targets, settings.stratify, &mut rng);
    train.shuffle(&mut rng);
    val.sort_unstable();
    test.sort_unstable();
    Ok((train, val, test))
}

/// Splits `pool` into (kept, carved) with `fraction` carved out, per class when stratified.
fn carve(
    pool: Vec<usize>,
    fraction: f32,
    targets: &Targets,
    stratify: bool,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<usize>) {
    let groups: Vec<Vec<usize>> = match targets {
        Targets::Classes { labels, names } if stratify => {
            let mut g = vec![Vec::new(); names.len()];
            for i in pool {
                g[labels[i] as usize].push(i);
            }
            g
        }
        _ => vec![pool],
    };
    let mut kept = Vec::new();
    let mut carved = Vec::new();
    for mut group in groups {
        group.shuffle(rng);
        let k = ((group.len() as f32) * fraction).round() as usize;
        carved.extend_from_slice(&group[..k]);
        kept.extend_from_slice(&group[k..]);
    }
    (kept, carved)
}
