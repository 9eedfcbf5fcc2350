//! Every command example of `seed/subscription-pooling.md`, run exactly as
//! written (the shell's quotes removed), in the document's order, with its
//! output checked.

use insta::assert_snapshot;

use crate::env::TestEnv;

/// Run a seed `add` in a terminal, typing the credential at the prompt, as
/// the seed says ("you'll be prompted to enter the API credentials").
fn add_in_terminal(env: &TestEnv, args: &[&str], secret: &str) -> String {
    let run = env.run_in_terminal(args, secret).success();
    assert!(
        !run.stdout.contains(secret),
        "the credential was echoed:\n{}",
        run.stdout
    );
    run.stdout
}

/// Route a private namespace to one subscription, lease it and release it
/// with `usage`, so the status and usage screens show real figures.
fn spend_on(env: &TestEnv, name: &str, usage: &str, cost: &str) {
    let namespace = format!("only-{name}");
    env.run(&[
        "subscription",
        "route",
        "--namespace",
        &namespace,
        "--subscriptions",
        name,
    ])
    .success();
    let leased = env.spend(
        &["--namespace", &namespace],
        &["--usage", usage, "--cost-usd", cost],
    );
    assert_eq!(leased, name);
    env.run(&["subscription", "unroute", "--namespace", &namespace])
        .success();
}

#[test]
fn seed_examples_run_in_order() {
    let mut env = TestEnv::new();

    // ## Adding Subscriptions
    let personal = add_in_terminal(
        &env,
        &["subscription", "add", "--name", "personal"],
        "sk-ant-oat01-personal-token",
    );
    assert_snapshot!("seed_add_personal", personal);

    let premium = add_in_terminal(
        &env,
        &[
            "subscription",
            "add",
            "--name",
            "work-premium",
            "--priority",
            "150",
            "--description",
            "Work account with higher limits",
        ],
        "sk-ant-oat01-work-premium-token",
    );
    assert_snapshot!("seed_add_work_premium", premium);

    let backend = add_in_terminal(
        &env,
        &[
            "subscription",
            "add",
            "--name",
            "backend-dedicated",
            "--tags",
            "backend,api",
            "--priority",
            "120",
        ],
        "sk-ant-oat01-backend-token",
    );
    assert_snapshot!("seed_add_backend_dedicated", backend);

    // ## Routing Configuration / By Namespace
    let routed = env
        .run(&[
            "subscription",
            "route",
            "--namespace",
            "backend",
            "--subscriptions",
            "backend-dedicated,work-premium",
        ])
        .success();
    assert_snapshot!("seed_route_backend", routed.both());

    // ## By Priority Level. The seed routes to premium-1/2 and batch-1..3
    // without adding them first; a route may only name registered
    // subscriptions, so the test adds them here (this step is not in the seed).
    for (name, priority) in [
        ("premium-1", "200"),
        ("premium-2", "200"),
        ("batch-1", "20"),
        ("batch-2", "20"),
        ("batch-3", "20"),
    ] {
        env.add(name, &["--priority", priority]);
    }
    let high = env
        .run(&[
            "subscription",
            "route",
            "--priority",
            "high",
            "--subscriptions",
            "premium-1,premium-2",
        ])
        .success();
    assert_snapshot!("seed_route_high", high.both());
    let batch = env
        .run(&[
            "subscription",
            "route",
            "--priority",
            "batch",
            "--subscriptions",
            "batch-1,batch-2,batch-3",
        ])
        .success();
    assert_snapshot!("seed_route_batch", batch.both());

    // Some work on earlier days and today, so the screens have figures
    // (not in the seed).
    env.set_now("2025-05-30T15:00:00Z");
    spend_on(
        &env,
        "personal",
        "input=3000,output=1200,cache-read=4000",
        "0.21",
    );
    spend_on(&env, "work-premium", "input=2000,output=800", "0.09");
    env.set_now("2025-06-01T11:00:00Z");
    spend_on(
        &env,
        "work-premium",
        "input=5000,output=1000,cache-write=500,cache-read=2500",
        "0.35",
    );
    env.set_now("2025-06-02T09:30:00Z");
    spend_on(
        &env,
        "work-premium",
        "input=8000,output=2450,cache-read=2000",
        "0.52",
    );
    spend_on(
        &env,
        "personal",
        "input=10000,output=3200,cache-write=1000,cache-read=4000",
        "0.61",
    );
    spend_on(
        &env,
        "backend-dedicated",
        "input=9000,output=2580,cache-read=3000",
        "0.44",
    );
    // A burst limit on batch-3, back at 09:35.
    env.run(&[
        "subscription",
        "route",
        "--namespace",
        "limits",
        "--subscriptions",
        "batch-3",
    ])
    .success();
    let lease = env.acquire(&["--namespace", "limits"]);
    env.run(&[
        "lease",
        "release",
        &lease,
        "--outcome",
        "rate-limited",
        "--resets-at",
        "5m",
    ])
    .success();
    env.run(&["subscription", "unroute", "--namespace", "limits"])
        .success();

    // ## Monitoring / Pool Status
    let status = env.run(&["subscription", "status"]).success();
    assert!(status.stdout.starts_with("Subscription Pool Status\n========================\n\nActive:       7/8\nRate Limited: 1\nTotal Usage:  45,230 tokens today\n"), "{}", status.stdout);
    assert_snapshot!("seed_status", status.both());

    // ## Usage Statistics
    let week = env
        .run(&["subscription", "usage", "--period", "week"])
        .success();
    assert_snapshot!("seed_usage_week", week.both());
    let month = env
        .run(&[
            "subscription",
            "usage",
            "--subscription",
            "work-premium",
            "--period",
            "month",
        ])
        .success();
    assert_snapshot!("seed_usage_work_premium_month", month.both());

    // ## Tag-Based Routing
    let audited = add_in_terminal(
        &env,
        &[
            "subscription",
            "add",
            "--name",
            "sec-audited",
            "--tags",
            "security,compliance",
        ],
        "sk-ant-oat01-sec-audited-token",
    );
    assert_snapshot!("seed_add_sec_audited", audited);
    let security = env
        .run(&[
            "subscription",
            "route",
            "--namespace",
            "security",
            "--subscriptions",
            "sec-audited",
        ])
        .success();
    assert_snapshot!("seed_route_security", security.both());

    // The routes took effect: a security agent gets sec-audited, a backend
    // agent gets work-premium (backend-dedicated ranks below it), a high
    // priority task a premium subscription.
    let explain = env
        .run(&["subscription", "explain", "--namespace", "security"])
        .success();
    assert!(
        explain.stdout.contains("Would use: sec-audited"),
        "{}",
        explain.stdout
    );
    assert_eq!(env.spend(&["--namespace", "security"], &[]), "sec-audited");
    assert_eq!(env.spend(&["--namespace", "backend"], &[]), "work-premium");
    assert!(
        env.spend(&["--priority", "high"], &[])
            .starts_with("premium-")
    );
    let routes = env.run(&["subscription", "routes"]).success();
    assert_snapshot!("seed_routes", routes.both());
}

/// The seed's status picture with its own four subscriptions and figures.
#[test]
fn status_reproduces_the_seed_picture() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    env.add("work-premium", &["--priority", "150"]);
    env.add("backend-dedicated", &["--priority", "120"]);
    env.add("overflow", &["--priority", "50"]);
    spend_on(&env, "work-premium", "input=10000,output=2450", "0.30");
    spend_on(&env, "personal", "input=15000,output=3200", "0.40");
    spend_on(&env, "backend-dedicated", "input=12000,output=2580", "0.35");
    env.run(&[
        "subscription",
        "route",
        "--namespace",
        "spill",
        "--subscriptions",
        "overflow",
    ])
    .success();
    let lease = env.acquire(&["--namespace", "spill"]);
    env.run(&[
        "lease",
        "release",
        &lease,
        "--outcome",
        "rate-limited",
        "--resets-at",
        "4m",
    ])
    .success();

    let status = env.run(&["subscription", "status"]).success();
    let expected_head = "\
Subscription Pool Status
========================

Active:       3/4
Rate Limited: 1
Total Usage:  45,230 tokens today

┌───────────────────┬──────────┬──────────┬─────────────┐
│ Name              │ Status   │ Priority │ Today Usage │
├───────────────────┼──────────┼──────────┼─────────────┤
│ work-premium      │ active   │ 150      │ 12,450      │
│ backend-dedicated │ active   │ 120      │ 14,580      │
│ personal          │ active   │ 100      │ 18,200      │
│ overflow          │ rate_ltd │ 50       │ —           │
└───────────────────┴──────────┴──────────┴─────────────┘
";
    assert!(
        status.stdout.starts_with(expected_head),
        "{}",
        status.stdout
    );
    assert_snapshot!("seed_status_picture", status.both());
}
