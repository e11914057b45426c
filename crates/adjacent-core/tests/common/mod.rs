// Shared by the integration tests: the table shipped in the repository.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

pub fn table_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/nb201_cifar10.csv.gz")
}

/// The shipped table as CSV text.
pub fn table_text() -> String {
    let bytes = std::fs::read(table_path()).expect("the shipped table exists");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("the shipped table is gzipped UTF-8");
    text
}

/// Rows of the shipped table as (column name -> value) maps, in file order.
pub fn table_rows() -> Vec<std::collections::HashMap<String, String>> {
    let text = table_text();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}
