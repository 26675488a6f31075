//! Hand-written kernels agree with candle's reference ops where those are correct.

use candle_core::{Device, Tensor};
use glassbox::model::kernels::{pool2d, PoolKind};

#[test]
fn pooling_forward_matches_candle() {
    let x = Tensor::randn(0f32, 1.0, (3, 4, 8, 6), &Device::Cpu).unwrap();
    let ours = pool2d(&x, PoolKind::Max, 2, 2).unwrap();
    let theirs = x.max_pool2d(2).unwrap();
    let diff = (ours - theirs)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(diff, 0.0);
    let ours = pool2d(&x, PoolKind::Avg, 2, 2).unwrap();
    let theirs = x.avg_pool2d(2).unwrap();
    let diff = (ours - theirs)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-6, "{diff}");
    // Non-contiguous input (a transposed view) gives the same result as its contiguous copy.
    let t = x.transpose(2, 3).unwrap();
    let a = pool2d(&t, PoolKind::Max, 3, 1).unwrap();
    let b = pool2d(&t.contiguous().unwrap(), PoolKind::Max, 3, 1).unwrap();
    assert_eq!(
        a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    assert_eq!(a.dims(), &[3, 4, 4, 6]);
}
