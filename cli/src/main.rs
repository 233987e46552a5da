//! `usher`: the admin command line.

fn main() {
    println!("usher: not implemented yet");
}
