//! `usher-server`: runs the session server.

fn main() {
    println!("usher-server: not implemented yet");
}
