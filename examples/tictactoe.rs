//! Tic-tac-toe as a Petri net, played through the hash-chained event store
//! on a redb file.
//!
//! ```sh
//! cargo run --release --example tictactoe --features petri,redb            # a temporary file
//! cargo run --release --example tictactoe --features petri,redb -- game.redb
//! cargo run --example tictactoe --features petri,redb -- --help
//! ```
//!
//! The net is this crate's own (bitwrap's `octoe` net stays a test fixture).
//! Each square has a `free` place and an `x`/`o` place of capacity 1; the
//! move `X11` (role `x`) takes the `x_turn` token and square 11's `free`
//! token and gives `x11` and `o_turn`. The judge (role `judge`) ends the game
//! by firing `X_WINS_<line>`, which reads the three squares of a line
//! through self-loops and takes the turn token away, so no one can move
//! again. The program plays a scripted X against a naive O, printing the
//! board after every move, shows the store refusing bad moves (bitwrap's
//! two error classes), and finally verifies and prints the event chain.

use std::error::Error;

use tally::petri::{Command, Machines, Net, NetSpec, PetriError};
use tally::redb::RedbStore;

const SCHEMA: &str = "tictactoe";
const GAME: &str = "game-1";
/// The eight lines: rows, columns, diagonals, as (row, column) squares.
const LINES: [(&str, [(usize, usize); 3]); 8] = [
    ("row0", [(0, 0), (0, 1), (0, 2)]),
    ("row1", [(1, 0), (1, 1), (1, 2)]),
    ("row2", [(2, 0), (2, 1), (2, 2)]),
    ("col0", [(0, 0), (1, 0), (2, 0)]),
    ("col1", [(0, 1), (1, 1), (2, 1)]),
    ("col2", [(0, 2), (1, 2), (2, 2)]),
    ("diag", [(0, 0), (1, 1), (2, 2)]),
    ("anti", [(0, 2), (1, 1), (2, 0)]),
];

/// Builds the tic-tac-toe net.
fn tictactoe() -> Result<Net, PetriError> {
    let mut spec = NetSpec::new()
        .place_with_capacity("x_turn", 1, 1)
        .place_with_capacity("o_turn", 0, 1)
        .place_with_capacity("x_won", 0, 1)
        .place_with_capacity("o_won", 0, 1);
    for row in 0..3 {
        for column in 0..3 {
            spec = spec
                .place_with_capacity(&format!("free{row}{column}"), 1, 1)
                .place_with_capacity(&format!("x{row}{column}"), 0, 1)
                .place_with_capacity(&format!("o{row}{column}"), 0, 1);
        }
    }
    for (player, next) in [("x", "o"), ("o", "x")] {
        let upper = player.to_uppercase();
        for row in 0..3 {
            for column in 0..3 {
                let action = format!("{upper}{row}{column}");
                spec = spec
                    .transition_with_role(&action, player)
                    .arc(&format!("{player}_turn"), &action, 1)
                    .arc(&format!("free{row}{column}"), &action, 1)
                    .arc(&action, &format!("{player}{row}{column}"), 1)
                    .arc(&action, &format!("{next}_turn"), 1);
            }
        }
        // After `player` moved it is `next`'s turn: a win takes that turn.
        for (line, squares) in LINES {
            let action = format!("{upper}_WINS_{line}");
            spec = spec
                .transition_with_role(&action, "judge")
                .arc(&format!("{next}_turn"), &action, 1)
                .arc(&action, &format!("{player}_won"), 1);
            for (row, column) in squares {
                let place = format!("{player}{row}{column}");
                spec = spec.arc(&place, &action, 1).arc(&action, &place, 1);
            }
        }
    }
    Net::new(spec)
}

fn tokens(net: &Net, state: &[u32], place: &str) -> u32 {
    net.place_index(place).map_or(0, |index| state[index])
}

fn board(net: &Net, state: &[u32]) -> String {
    let mut out = String::new();
    for row in 0..3 {
        let cells: Vec<&str> = (0..3)
            .map(|column| {
                if tokens(net, state, &format!("x{row}{column}")) > 0 {
                    "X"
                } else if tokens(net, state, &format!("o{row}{column}")) > 0 {
                    "O"
                } else {
                    "."
                }
            })
            .collect();
        out.push_str(&format!("    {}\n", cells.join(" ")));
    }
    out
}

/// X's plan: win, else block, else the centre, else a corner, else anything.
fn x_move(net: &Net, state: &[u32]) -> Option<(usize, usize)> {
    let free = |(row, column): (usize, usize)| tokens(net, state, &format!("free{row}{column}")) > 0;
    let owns = |player: &str, (row, column): (usize, usize)| tokens(net, state, &format!("{player}{row}{column}")) > 0;
    for player in ["x", "o"] {
        for (_, squares) in LINES {
            let mine = squares.iter().filter(|&&square| owns(player, square)).count();
            let open: Vec<_> = squares.iter().copied().filter(|&square| free(square)).collect();
            if mine == 2 && open.len() == 1 {
                return Some(open[0]);
            }
        }
    }
    [(1, 1), (0, 0), (0, 2), (2, 0), (2, 2), (0, 1), (1, 0), (1, 2), (2, 1)]
        .into_iter()
        .find(|&square| free(square))
}

/// O's plan: the first free square, reading order.
fn o_move(net: &Net, state: &[u32]) -> Option<(usize, usize)> {
    (0..3)
        .flat_map(|row| (0..3).map(move |column| (row, column)))
        .find(|(row, column)| tokens(net, state, &format!("free{row}{column}")) > 0)
}

fn short(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..6])
}

const HELP: &str = "\
tictactoe: tic-tac-toe as a Petri net, played through the hash-chained event store on redb.

usage: cargo run --features petri,redb --example tictactoe -- [FILE]
       tictactoe [FILE] [--help]

A scripted X plays a naive O; the board is printed after every move and a
judge transition ends the game. Then the store refuses moves the net
forbids, and the verified event chain is printed.

arguments:
  FILE        the redb file to play in (created if missing; a game already
              in it is continued); default: a file in a temporary directory
  -h, --help  print this text
";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = match args.as_slice() {
        [] => None,
        [flag] if flag == "--help" || flag == "-h" => {
            print!("{HELP}");
            return Ok(());
        }
        [file] if !file.starts_with('-') => Some(std::path::PathBuf::from(file)),
        _ => {
            eprintln!("tictactoe: unexpected arguments {args:?}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    let temporary = tempfile::tempdir()?;
    let path = file.unwrap_or_else(|| temporary.path().join("tictactoe.redb"));
    let machines = Machines::new(RedbStore::open(&path)?);
    let net = tictactoe()?;
    machines.register(SCHEMA, &net)?;
    let game = GAME;
    let mut now_ms = 1_700_000_000_000u64;
    if !machines.create_stream(SCHEMA, game, now_ms)? {
        println!("(game {game} already in {}: continuing it)", path.display());
    }
    println!(
        "tic-tac-toe in {} ({} places, {} transitions)\n",
        path.display(),
        net.place_count(),
        net.transition_count()
    );

    let mut winner = None;
    loop {
        let head = machines.state(SCHEMA, game)?;
        let (player, role, choice) = if tokens(&net, &head.state, "x_turn") > 0 {
            ("X", "x", x_move(&net, &head.state))
        } else if tokens(&net, &head.state, "o_turn") > 0 {
            ("O", "o", o_move(&net, &head.state))
        } else {
            break; // Nobody has the turn: someone won.
        };
        let Some((row, column)) = choice else {
            break; // A draw: the board is full.
        };
        now_ms += 1_000;
        let action = format!("{player}{row}{column}");
        let payload = format!(r#"{{"player":"{player}","square":[{row},{column}]}}"#);
        let command = Command::new(&action, payload.as_bytes()).as_role(role).after(head.rev);
        let receipt = machines.dispatch_command(SCHEMA, game, &command, now_ms)?;
        println!("move {}: {player} takes ({row},{column})", receipt.seq);
        print!("{}", board(&net, &receipt.state));
        // The judge checks the lines after every move.
        let judged = net
            .enabled_as(&receipt.state, Some("judge"))?
            .into_iter()
            .next()
            .and_then(|transition| net.transition_label(transition).map(str::to_owned));
        if let Some(verdict) = judged {
            now_ms += 1;
            let command = Command::new(&verdict, b"{}").as_role("judge").after(receipt.seq);
            machines.dispatch_command(SCHEMA, game, &command, now_ms)?;
            println!("judge: {verdict}\n");
            winner = Some(player);
            break;
        }
        println!();
    }
    match winner {
        Some(player) => println!("{player} wins."),
        None => println!("A draw."),
    }

    println!("\nThe store refuses what the net forbids, and stores nothing:");
    for (action, role) in [("O11", "o"), ("X00", "o"), ("PASS", "x")] {
        let command = Command::new(action, b"{}").as_role(role);
        match machines.dispatch_command(SCHEMA, game, &command, now_ms + 1) {
            Ok(receipt) => println!("  {action} as {role}: accepted?! seq {}", receipt.seq),
            Err(error) => println!(
                "  {action} as {role}: {} ({error})",
                error.class().map_or("ERROR", |class| class.code())
            ),
        }
    }

    let verified = machines.verify(SCHEMA, game)?;
    println!(
        "\nEvent chain ({} events, verified; head {}):",
        verified.events,
        short(&verified.head_hash)
    );
    for event in machines.events(SCHEMA, game)? {
        println!(
            "  #{:<2} {:<14} as {:<5} prev {} -> hash {}  {}",
            event.seq,
            event.action,
            event.role.as_deref().unwrap_or("-"),
            short(&event.prev_hash),
            short(&event.hash),
            String::from_utf8_lossy(&event.payload)
        );
    }
    Ok(())
}
