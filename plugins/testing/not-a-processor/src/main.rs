//! A plain `wasi:cli/command` component: Weir must refuse it as a processor.

fn main() {
    println!("hello from the wrong world");
}
