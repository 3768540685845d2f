//! hive: one multicall binary. This file only decides what was asked for
//! (argv[0] or subcommand) and hands over; it does no work itself.

use std::time::Instant;

use argh::FromArgs;

use hive::cli::{self, Command, Invocation, Top};
use hive::{commands, config, logging, role, EXIT_USAGE};

fn main() {
    let started = Instant::now();
    let mut args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    if args.is_empty() {
        args.push("hive".into());
    }
    let argv0 = args.remove(0);
    let (args, verbosity) = cli::take_verbosity(cli::split_equals(args));
    logging::init(verbosity);

    let invocation = match cli::invocation(&argv0) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(EXIT_USAGE);
        }
    };
    // `cloud …` behaves exactly like `hive cloud …`.
    let (cmd_name, argv): (String, Vec<String>) = match invocation {
        Invocation::Hive => ("hive".into(), args),
        Invocation::Role(r) => ("hive".into(), std::iter::once(r.to_string()).chain(args).collect()),
    };
    let argv_ref: Vec<&str> = argv.iter().map(String::as_str).collect();
    let top = match Top::from_args(&[cmd_name.as_str()], &argv_ref) {
        Ok(t) => t,
        Err(early) => {
            let help = early.status.is_ok();
            if help {
                println!("{}", early.output);
                std::process::exit(0);
            }
            eprintln!("{}", early.output.trim_end());
            if argv.is_empty() || !matches!(argv[0].as_str(), "cloud" | "edge" | "version" | "config" | "install-links" | "cert" | "bench") {
                eprintln!("hive: valid commands: cloud, edge (edge join), version, config, install-links, cert, token, bench");
            }
            std::process::exit(EXIT_USAGE);
        }
    };
    let code = match top.cmd {
        Command::Cloud(c) => role::run(config::Role::Cloud, (&c).into(), started),
        Command::Edge(e) => role::run(config::Role::Edge, (&e).into(), started),
        Command::Version(_) => commands::version(),
        Command::Config(c) => commands::config(&c),
        Command::InstallLinks(c) => commands::install_links(&c),
        Command::Cert(c) => commands::cert(&c),
        Command::Token(t) => commands::token(&t),
        Command::Bench(b) => commands::bench(&b),
    };
    std::process::exit(code);
}
