//! Hostile files on disk, generated: image folders mixing real, truncated, empty and random-byte
//! images under odd names, and text files in odd encodings (UTF-16 with and without a byte-order
//! mark, Latin-1, a UTF-8 BOM, NUL bytes, lone carriage returns). Each case ends in data whose
//! size matches what was asked for, or an error naming the folder or file: never a panic.

use glassbox::data::{char_lm, image_folder, text_classes, ColorMode, Features, TokenKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// 10,000 cases per target, as for the other fuzz targets (`tests/fuzz_inputs.rs`).
const CASES: u32 = 10_000;

fn png(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let (w, h) = (rng.random_range(1..6), rng.random_range(1..6));
    let img = image::RgbImage::from_fn(w, h, |_, _| image::Rgb(rng.random()));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// One image file's bytes: a real PNG, a truncated one, an empty file, random bytes, or a PNG
/// signature followed by garbage.
fn image_bytes(rng: &mut ChaCha8Rng) -> Vec<u8> {
    match rng.random_range(0..5) {
        0 | 1 => png(rng),
        2 => {
            let mut p = png(rng);
            p.truncate(rng.random_range(0..p.len()));
            p
        }
        3 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
        _ => {
            let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
            p.extend((0..rng.random_range(0..40)).map(|_| rng.random::<u8>()));
            p
        }
    }
}

const NAMES: [&str; 6] = ["a", "B c", "ünï", "-x", ".hidden", "日本"];
const EXTENSIONS: [&str; 6] = ["png", "PNG", "jpg", "bmp", "txt", ""];

fn random_folder(root: &Path, rng: &mut ChaCha8Rng) {
    // Mostly two or three classes that each start with a good PNG, so both outcomes are
    // common; the other files are anything.
    for c in 0..[0, 1, 2, 2, 3, 3][rng.random_range(0..6)] {
        let class = root.join(format!("{}{c}", NAMES[rng.random_range(0..NAMES.len())]));
        std::fs::create_dir_all(&class).unwrap();
        if rng.random_bool(0.9) {
            std::fs::write(class.join("good.png"), png(rng)).unwrap();
        }
        for f in 0..rng.random_range(0..4) {
            let ext = EXTENSIONS[rng.random_range(0..EXTENSIONS.len())];
            let name = format!("{}{f}.{ext}", NAMES[rng.random_range(0..NAMES.len())]);
            std::fs::write(class.join(name), image_bytes(rng)).unwrap();
        }
    }
    if rng.random_bool(0.1) {
        std::fs::write(root.join("stray.png"), image_bytes(rng)).unwrap();
    }
}

/// Text in an odd encoding, built from a few short lines.
fn odd_text(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let words = [
        "call me",
        "Ishmael",
        "naïve",
        "Œuvre",
        "日本語",
        "a,b",
        "\"q\"",
        "x\ty",
        "",
    ];
    let mut s = String::new();
    for _ in 0..rng.random_range(0..12) {
        s.push_str(words[rng.random_range(0..words.len())]);
        s.push_str(["\n", "\r\n", "\r", " ", ","][rng.random_range(0..5)]);
    }
    let utf16 = |big: bool, bom: bool| {
        let mut out = Vec::new();
        if bom {
            out.extend(if big { [0xFE, 0xFF] } else { [0xFF, 0xFE] });
        }
        for u in s.encode_utf16() {
            out.extend(if big {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
        out
    };
    match rng.random_range(0..7) {
        0 => s.into_bytes(),
        1 => utf16(false, true),
        2 => utf16(true, rng.random_bool(0.5)),
        // Latin-1: every char below 256 as one byte, the rest as '?'.
        3 => s
            .chars()
            .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
            .collect(),
        4 => [b"\xEF\xBB\xBF".as_slice(), s.as_bytes()].concat(),
        5 => s.bytes().flat_map(|b| [b, 0]).collect(),
        _ => {
            let mut b = s.into_bytes();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..=b.len());
                b.insert(at, rng.random_range(0x80..=0xFF));
            }
            b
        }
    }
}

/// Runs `case` on 10,000 seeds and returns how many ended in Ok; a case returns Err(message)
/// for a failed check, and a panic fails the test with the seed that caused it.
fn run_cases(case: impl Fn(&mut ChaCha8Rng) -> Result<bool, String>) -> usize {
    let mut ok = 0;
    for seed in 0..CASES as u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut rng)));
        match outcome {
            Ok(Ok(loaded)) => ok += usize::from(loaded),
            Ok(Err(why)) => panic!("seed {seed}: {why}"),
            Err(_) => panic!("seed {seed} panicked"),
        }
    }
    ok
}

#[test]
fn image_folders_load_or_name_the_problem() {
    let loaded = run_cases(|rng| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("images");
        std::fs::create_dir(&root).unwrap();
        random_folder(&root, rng);
        let (w, h) = (rng.random_range(1..9), rng.random_range(1..9));
        let color = if rng.random_bool(0.5) {
            ColorMode::Grey
        } else {
            ColorMode::Rgb
        };
        match image_folder(&root, w, h, color, &|_| {}) {
            Ok(raw) => {
                let channels = if color == ColorMode::Rgb { 3 } else { 1 };
                if raw.sample_shape != [channels, h, w] {
                    return Err(format!(
                        "shape {:?} for {channels}×{h}×{w}",
                        raw.sample_shape
                    ));
                }
                let n = match &raw.features {
                    Features::F32(v) => v.len(),
                    Features::U8(v) => v.len(),
                    other => return Err(format!("image features as {other:?}")),
                };
                if n == 0 || n % (channels * h * w) != 0 {
                    return Err(format!("{n} values for samples of {channels}×{h}×{w}"));
                }
                Ok(true)
            }
            Err(e) if e.to_string().contains("images") => Ok(false),
            Err(e) => Err(format!("an error that names neither folder nor file: {e}")),
        }
    });
    println!("{loaded} of {CASES} image folders loaded; the rest were refused by name");
    // Both outcomes are common, or the generator tests nothing.
    assert!(
        (500..9_500).contains(&loaded),
        "{loaded} of {CASES} folders loaded"
    );
}

#[test]
fn texts_in_odd_encodings_load_or_name_the_problem() {
    let loaded = run_cases(|rng| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.txt");
        std::fs::write(&path, odd_text(rng)).unwrap();
        let context = rng.random_range(1..24);
        let lm = match char_lm(&path, context, None) {
            Ok(raw) => {
                let vocab = raw.vocab.as_ref().map_or(0, Vec::len);
                if vocab <= 2 || raw.sample_shape != [context] {
                    return Err(format!("vocabulary {vocab}, shape {:?}", raw.sample_shape));
                }
                true
            }
            Err(e) if e.to_string().contains("odd.txt") => false,
            Err(e) => return Err(format!("an error without the file's name: {e}")),
        };
        let kind = if rng.random_bool(0.5) {
            TokenKind::Char
        } else {
            TokenKind::Word
        };
        match text_classes(&path, "call me", "Ishmael", kind, rng.random_range(1..20)) {
            Err(e) if !e.to_string().contains("odd.txt") => {
                Err(format!("an error without the file's name: {e}"))
            }
            _ => Ok(lm),
        }
    });
    println!("{loaded} of {CASES} texts loaded; the rest were refused by name");
    assert!(
        (500..9_500).contains(&loaded),
        "{loaded} of {CASES} texts loaded"
    );
}
