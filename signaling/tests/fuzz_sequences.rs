//! The fuzz target's driver in the normal suite: random byte strings become sequences of every
//! kind of message from every kind of user; the hub never panics and keeps its invariants.

use konsult_signaling::testing::drive;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_sequences_never_break_the_hub(data in prop::collection::vec(any::<u8>(), 0..1500)) {
        drive::run(&data);
    }
}

#[test]
fn the_fuzz_corpus_runs_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/hub_sequence");
    let entries = std::fs::read_dir(&dir).expect("the fuzz corpus is in the repository");
    let mut count = 0;
    for entry in entries.flatten() {
        let data = std::fs::read(entry.path()).expect("corpus file");
        drive::run(&data);
        count += 1;
    }
    assert!(count > 100, "only {count} corpus entries");
}
