//! Data sets by format, and a clear error for every kind of bad data.

use std::path::Path;

use adjacent_data::{self as data, BadImagePolicy, ImageSet, idx};

fn load(path: &Path) -> Result<data::Dataset, String> {
    data::load(path.to_str().unwrap(), BadImagePolicy::Fail).map_err(|e| e.to_string())
}

fn tiny_set(n: usize) -> ImageSet {
    ImageSet {
        pixels: (0..n * 4 * 4).map(|v| (v % 251) as u8).collect(),
        labels: (0..n).map(|i| (i % 3) as u16).collect(),
        channels: 1,
        height: 4,
        width: 4,
        class_names: vec!["0".into(), "1".into(), "2".into()],
    }
}

fn write_idx_dir(dir: &Path, train: &ImageSet, test: &ImageSet) {
    idx::write(
        train,
        &dir.join("train-images-idx3-ubyte.gz"),
        &dir.join("train-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    idx::write(
        test,
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &dir.join("t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
}

#[test]
fn the_builtin_set_is_a_stratified_fashion_mnist_subset() {
    let d = data::load("builtin", BadImagePolicy::Fail).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (10_000, 2_000));
    assert_eq!(
        (d.train.channels, d.train.height, d.train.width),
        (1, 28, 28)
    );
    for c in 0..10 {
        assert_eq!(d.train.labels.iter().filter(|&&l| l == c).count(), 1000);
        assert_eq!(d.test.labels.iter().filter(|&&l| l == c).count(), 200);
    }
}

#[test]
fn idx_gzipped_and_raw_load_alike() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dir(dir.path(), &tiny_set(30), &tiny_set(9));
    let gz = load(dir.path()).unwrap();
    assert_eq!(gz.train, tiny_set(30));
    // The same files, gunzipped.
    let raw = tempfile::tempdir().unwrap();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let bytes = idx::read_maybe_gz(&dir.path().join(format!("{name}.gz"))).unwrap();
        std::fs::write(raw.path().join(name), bytes).unwrap();
    }
    assert_eq!(load(raw.path()).unwrap().test, tiny_set(9));
}

#[test]
fn bad_idx_files_are_named_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dir(dir.path(), &tiny_set(30), &tiny_set(9));
    let images = dir.path().join("train-images-idx3-ubyte.gz");
    let good = idx::read_maybe_gz(&images).unwrap();
    let case = |bytes: &[u8], expect: &str| {
        std::fs::remove_file(&images).ok();
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), bytes).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(
            err.contains("train-images-idx3-ubyte") && err.contains(expect),
            "{err}"
        );
    };
    let mut bad_magic = good.clone();
    bad_magic[3] = 0x01;
    case(&bad_magic, "bad magic number");
    case(&good[..good.len() - 5], "truncated");
    case(&good[..10], "truncated");
    // 30 images but the labels of 9.
    let mut fewer = good.clone();
    fewer[4..8].copy_from_slice(&9u32.to_be_bytes());
    fewer.truncate(16 + 9 * 16);
    case(&fewer, "9 images but 30 labels");
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        b"\x1f\x8bnot gzip",
    )
    .unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(err.contains("gzip"), "{err}");
}

fn write_png(path: &Path, grey: u8) {
    image::GrayImage::from_pixel(6, 6, image::Luma([grey]))
        .save(path)
        .unwrap();
}

#[test]
fn image_folders_load_with_sorted_classes() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "test"] {
        for (c, class) in ["cat", "ant"].iter().enumerate() {
            std::fs::create_dir_all(dir.path().join(split).join(class)).unwrap();
            for i in 0..3 {
                write_png(
                    &dir.path().join(split).join(class).join(format!("{i}.png")),
                    (c * 100 + i) as u8,
                );
            }
        }
    }
    let d = load(dir.path()).unwrap();
    assert_eq!(d.train.class_names, vec!["ant", "cat"]);
    assert_eq!((d.train.len(), d.train.channels, d.train.height), (6, 1, 6));
    // "ant" images were written with grey 100.., "cat" with 0..
    assert_eq!(d.train.labels[0], 0);
    assert_eq!(d.train.image(0)[0], 100);

    // An RGB image makes the set RGB.
    image::RgbImage::from_pixel(6, 6, image::Rgb([1, 2, 3]))
        .save(dir.path().join("test/cat/rgb.png"))
        .unwrap();
    let d = load(dir.path()).unwrap();
    assert_eq!(d.test.channels, 3);
}

#[test]
fn bad_image_folders_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "test"] {
        std::fs::create_dir_all(dir.path().join(split).join("a")).unwrap();
        std::fs::create_dir_all(dir.path().join(split).join("b")).unwrap();
        write_png(&dir.path().join(split).join("a/0.png"), 1);
    }
    let err = load(dir.path()).unwrap_err();
    assert!(
        err.contains("train/b") && err.contains("no images"),
        "{err}"
    );

    write_png(&dir.path().join("train/b/0.png"), 2);
    write_png(&dir.path().join("test/b/0.png"), 2);
    std::fs::write(dir.path().join("train/b/broken.jpg"), b"not a jpeg").unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        err.contains("broken.jpg") && err.contains("cannot decode"),
        "{err}"
    );
    let skipped = data::load(dir.path().to_str().unwrap(), BadImagePolicy::Skip).unwrap();
    assert_eq!(skipped.train.len(), 2);

    std::fs::remove_file(dir.path().join("train/b/broken.jpg")).unwrap();
    image::GrayImage::new(7, 6)
        .save(dir.path().join("train/b/1.png"))
        .unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(err.contains("1.png") && err.contains("one size"), "{err}");
}

#[test]
fn cifar_binary_batches_load_and_truncation_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend((0..3072).map(|i| (i % 256) as u8));
        r
    };
    for name in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ] {
        let bytes: Vec<u8> = (0..4).flat_map(|i| record(i as u8)).collect();
        std::fs::write(dir.path().join(format!("{name}.bin")), bytes).unwrap();
    }
    let d = load(dir.path()).unwrap();
    assert_eq!(
        (
            d.train.len(),
            d.test.len(),
            d.train.channels,
            d.train.classes()
        ),
        (20, 4, 3, 10)
    );
    assert_eq!(d.train.class_names[0], "airplane");
    std::fs::write(dir.path().join("test_batch.bin"), vec![0u8; 3073 + 5]).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        err.contains("test_batch.bin") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn unknown_paths_say_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        err.contains("no data set found") && err.contains("ImageFolder"),
        "{err}"
    );
    let err = load(&dir.path().join("missing")).unwrap_err();
    assert!(err.contains("no such file"), "{err}");
    let archive = dir.path().join("cifar10-jpg.tar.gz");
    std::fs::write(&archive, b"x").unwrap();
    let err = load(&archive).unwrap_err();
    assert!(err.contains("unpack it first"), "{err}");
}

#[test]
fn stratified_subsets_and_splits_keep_class_shares() {
    let set = tiny_set(300);
    let idx = set.stratified(30, 5);
    assert_eq!(idx.len(), 30);
    for c in 0..3 {
        assert_eq!(idx.iter().filter(|&&i| set.labels[i] == c).count(), 10);
    }
    assert_eq!(set.stratified(30, 5), idx, "seeded");
    assert_ne!(set.stratified(30, 6), idx);
    let (train, valid) = set.split(60, 1);
    assert_eq!((train.len(), valid.len()), (240, 60));
    let mut all: Vec<&[u8]> = (0..train.len())
        .map(|i| train.image(i))
        .chain((0..valid.len()).map(|i| valid.image(i)))
        .collect();
    all.sort();
    let mut orig: Vec<&[u8]> = (0..set.len()).map(|i| set.image(i)).collect();
    orig.sort();
    assert_eq!(all, orig, "a split loses and duplicates nothing");
}
