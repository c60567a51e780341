//! The conformance kit run against the stores this crate ships.

mod mem_store {
    tally_store::conformance_tests!(tally_store::MemStore::new());
}

mod faulty_store_with_faults_off {
    tally_store::conformance_tests!(tally_store::FaultyStore::new(tally_store::MemStore::new()));
}

mod arc_of_mem_store {
    tally_store::conformance_tests!(std::sync::Arc::new(tally_store::MemStore::new()));
}

mod boxed_dyn_store {
    tally_store::conformance_tests!(Box::new(tally_store::MemStore::new()) as Box<dyn tally_store::Store>);
}

#[test]
fn an_unconfigured_service_skips_when_services_are_optional() {
    tally_store::testkit::skip_unless(false, "a test", "its service is not configured");
}

#[test]
#[should_panic(expected = "TALLY_REQUIRE_SERVICES=1 forbids skipping")]
fn an_unconfigured_service_fails_when_services_are_required() {
    tally_store::testkit::skip_unless(true, "a test", "its service is not configured");
}

#[test]
fn run_all_covers_every_listed_check() {
    assert_eq!(tally_store::testkit::CHECKS.len(), 17);
    let config = tally_store::testkit::Config {
        cas_threads: 2,
        cas_increments_per_thread: 100,
        disjoint_writes_per_thread: 10,
        multi_key_rounds_per_thread: 20,
        write_skew_rounds: 20,
    };
    tally_store::testkit::run_all(tally_store::MemStore::new, &config);
}
