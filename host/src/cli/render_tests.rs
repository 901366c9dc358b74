use super::*;

#[test]
fn the_diff_marks_changed_lines_with_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\n";
    let new = "a\nb\nc\nD\ne\nf\ng\n";
    assert_eq!(
        diff(old, new),
        ["…", "  b", "  c", "- d", "+ D", "  e", "  f", "…"].map(str::to_owned)
    );
}

#[test]
fn the_diff_leaves_out_nothing_it_need_not() {
    assert_eq!(
        diff("a\nb", "a\nB"),
        ["  a", "- b", "+ B"].map(str::to_owned)
    );
    assert_eq!(
        diff("x\n1\n2\n3\n4\n5\n6\ny\n", "X\n1\n2\n3\n4\n5\n6\nY\n"),
        ["- x", "+ X", "  1", "  2", "…", "  5", "  6", "- y", "+ Y"].map(str::to_owned)
    );
    assert!(diff("same\n", "same\n").is_empty());
}

#[test]
fn tables_align_columns_two_spaces_apart() {
    let rows = [["1", "create_users", "-"], ["20", "b", "12 ms"]];
    assert_eq!(
        table(&["VERSION", "NAME", "DURATION"], &rows),
        "VERSION  NAME          DURATION\n\
         1        create_users  -\n\
         20       b             12 ms"
    );
}
