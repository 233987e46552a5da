//! The parser: tokens to an [`Expr`], by recursive descent over
//!
//! ```text
//! or    := and ( OR and )*
//! and   := unary ( AND unary )*
//! unary := NOT unary | "(" or ")" | clause
//! ```
//!
//! Problems are collected, not thrown: after one, the parser skips to the next
//! `and`, `or` or `)` at the same parenthesis level and goes on, so a user sees
//! every mistake at once. The limits (text size, nesting depth, clause count)
//! are checked as the parser goes and stop it at once; since depth is checked
//! before each descent, recursion never goes deeper than [`MAX_DEPTH`] levels
//! whatever the input, and a 10,000-deep filter is refused, not a stack
//! overflow.

use super::ast::{Clause, CompareOp, Expr, ExprKind, Key, KeyKind, Span, Str};
use super::error::{
    MAX_CLAUSES, MAX_DEPTH, MAX_KEY_CHARS, MAX_MATCHES, MAX_TEXT_BYTES, Problem, ProblemKind, line_col,
};
use super::lex::{Kw, TokKind, Token, lex};
use crate::props::{FixedKey, is_valid_role_name};

const CLAUSE_START: &str = "a key, 'has', 'hasRoles', 'all', 'not' or '('";
const OPERATOR: &str = "'is', 'eq', 'ne', 'matches' or 'in'";
const STRING: &str = "a quoted string";

/// Parses `text` into a syntax tree, or returns every problem found.
pub fn parse(text: &str) -> Result<Expr, Vec<Problem>> {
    parse_with_patterns(text).0
}

/// [`parse`], and the patterns of the first [`MAX_MATCHES`] `matches`
/// clauses read, even when the filter as a whole does not parse, so the
/// caller can report a bad regex along with the syntax problems.
pub(crate) fn parse_with_patterns(text: &str) -> (Result<Expr, Vec<Problem>>, Vec<Str>) {
    if text.len() > MAX_TEXT_BYTES {
        return (Err(vec![Problem::new(ProblemKind::TooLong, Span::new(0, 0))]), Vec::new());
    }
    let mut problems = Vec::new();
    let tokens = lex(text, &mut problems);
    let mut p = Parser {
        text,
        tokens,
        pos: 0,
        problems,
        depth: 0,
        clauses: 0,
        matches: 0,
        patterns: Vec::new(),
        fatal: false,
    };
    let mut result = p.or();
    // Whatever follows a complete filter is a mistake; report it, then parse
    // on after the next `and`/`or` to find any further problems.
    while !p.fatal {
        match p.peek().kind {
            TokKind::Eof => break,
            TokKind::RParen => {
                p.problem(ProblemKind::UnmatchedParen, p.peek().span);
                p.pos += 1;
            }
            TokKind::Bad => p.sync(),
            _ => {
                p.problem(ProblemKind::ExpectedEnd, p.peek().span);
                p.sync();
            }
        }
        result = None;
        if matches!(p.peek().kind, TokKind::Kw(Kw::And | Kw::Or)) {
            p.pos += 1;
            let _ = p.or();
        }
    }
    let result = match result {
        Some(expr) if p.problems.is_empty() => Ok(expr),
        _ => Err(p.problems),
    };
    (result, p.patterns)
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    pos: usize,
    problems: Vec<Problem>,
    depth: usize,
    clauses: usize,
    matches: usize,
    /// The first `matches` patterns, see [`parse_with_patterns`].
    patterns: Vec<Str>,
    /// A limit was hit: stop parsing.
    fatal: bool,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `lex` always ends with `Eof`, and nothing advances past it.
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn advance(&mut self) -> Token {
        let tok = self.peek().clone();
        if tok.kind != TokKind::Eof {
            self.pos += 1;
        }
        tok
    }

    fn at(&self, kind: &TokKind) -> bool {
        self.peek().kind == *kind
    }

    fn prev_end(&self) -> u32 {
        self.pos.checked_sub(1).and_then(|i| self.tokens.get(i)).map_or(0, |t| t.span.end)
    }

    fn problem(&mut self, kind: ProblemKind, span: Span) {
        self.problems.push(Problem::new(kind, span));
    }

    fn limit(&mut self, kind: ProblemKind, span: Span) {
        self.problem(kind, span);
        self.fatal = true;
    }

    /// The previous token as messages name it: `'is'`, `'Tier'`, `a string`.
    fn describe_prev(&self) -> Option<String> {
        let tok = self.tokens.get(self.pos.checked_sub(1)?)?;
        let text = self.text.get(tok.span.start as usize..tok.span.end as usize).unwrap_or("");
        Some(match &tok.kind {
            TokKind::Kw(kw) => format!("'{}'", kw.text()),
            TokKind::Str(_) => "a string".to_owned(),
            _ if text.chars().count() > 40 => format!("'{}...'", text.chars().take(40).collect::<String>()),
            _ => format!("'{text}'"),
        })
    }

    /// Records "expected `what`" at the current token (unless the lexer
    /// already reported it), then resynchronises. Always `None`.
    fn fail<T>(&mut self, what: &'static str) -> Option<T> {
        if self.peek().kind != TokKind::Bad {
            let after = self.describe_prev();
            self.problem(ProblemKind::Expected { what, after }, self.peek().span);
        }
        self.sync();
        None
    }

    /// Skips to the next `and`, `or` or `)` outside any parentheses opened
    /// while skipping, or to the end.
    fn sync(&mut self) {
        let mut open = 0usize;
        loop {
            match self.peek().kind {
                TokKind::Eof => return,
                TokKind::Kw(Kw::And | Kw::Or) | TokKind::RParen if open == 0 => return,
                TokKind::LParen => open += 1,
                TokKind::RParen => open -= 1,
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// One level deeper (a `(` or a `not` at `span`); false, and parsing
    /// stops, past [`MAX_DEPTH`].
    fn enter(&mut self, span: Span) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.limit(ProblemKind::TooDeep, span);
        }
        !self.fatal
    }

    fn or(&mut self) -> Option<Expr> {
        self.chain(Kw::Or, Self::and, ExprKind::Or)
    }

    fn and(&mut self) -> Option<Expr> {
        self.chain(Kw::And, Self::unary, ExprKind::And)
    }

    /// `item ( op item )*`, flattened into one node when there are several.
    fn chain(
        &mut self,
        op: Kw,
        item: fn(&mut Self) -> Option<Expr>,
        node: fn(Vec<Expr>) -> ExprKind,
    ) -> Option<Expr> {
        let mut items = Vec::new();
        let mut ok = true;
        loop {
            match item(self) {
                Some(e) => items.push(e),
                None => ok = false,
            }
            if self.fatal || !self.at(&TokKind::Kw(op)) {
                break;
            }
            self.pos += 1;
        }
        if !ok || self.fatal {
            return None;
        }
        if items.len() == 1 {
            return items.pop();
        }
        let span = items.first().map(|e| e.span).unwrap_or_default().to(items.last()?.span);
        Some(Expr { kind: node(items), span })
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.fatal {
            return None;
        }
        let tok = self.peek().clone();
        match tok.kind {
            TokKind::Kw(Kw::Not) => {
                self.pos += 1;
                let inner = if self.enter(tok.span) { self.unary() } else { None };
                self.depth -= 1;
                let inner = inner?;
                let span = tok.span.to(inner.span);
                Some(Expr { kind: ExprKind::Not(Box::new(inner)), span })
            }
            TokKind::LParen => {
                self.pos += 1;
                let inner = if self.enter(tok.span) { self.or() } else { None };
                self.depth -= 1;
                if self.fatal {
                    return None;
                }
                if !self.at(&TokKind::RParen) {
                    if inner.is_some() && self.peek().kind != TokKind::Bad {
                        let open = line_col(self.text, tok.span.start);
                        self.problem(ProblemKind::UnclosedParen { open }, self.peek().span);
                    }
                    self.sync();
                    if !self.at(&TokKind::RParen) {
                        return None;
                    }
                }
                let close = self.advance();
                let mut inner = inner?;
                inner.span = tok.span.to(close.span);
                Some(inner)
            }
            _ => self.clause(),
        }
    }

    fn clause(&mut self) -> Option<Expr> {
        let start = self.peek().span;
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            self.limit(ProblemKind::TooManyClauses, start);
            return None;
        }
        // `ok` goes false on a problem that does not derail the parse (an
        // unknown `$` key, a bad role name): the clause is still read to the
        // end so that later problems are found, but yields nothing.
        let mut ok = true;
        let clause = match self.peek().kind {
            TokKind::Kw(Kw::All) => {
                self.pos += 1;
                Clause::All
            }
            TokKind::Kw(Kw::Has) => {
                self.pos += 1;
                let Some(key) = self.key(&mut ok) else { return self.fail("a key") };
                Clause::Has { key }
            }
            TokKind::Kw(Kw::HasRoles) => {
                self.pos += 1;
                let roles = self.list()?;
                for role in &roles {
                    if !is_valid_role_name(&role.value) {
                        self.problem(ProblemKind::BadRoleName(role.value.to_string()), role.span);
                        ok = false;
                    }
                }
                Clause::HasRoles { roles }
            }
            TokKind::Name | TokKind::Dollar => {
                let key = self.key(&mut ok)?;
                let op = match self.peek().kind {
                    TokKind::Kw(Kw::Is) => CompareOp::Is,
                    TokKind::Kw(Kw::Eq) => CompareOp::Eq,
                    TokKind::Kw(Kw::Ne) => CompareOp::Ne,
                    TokKind::Kw(Kw::Matches) => CompareOp::Matches,
                    TokKind::Kw(Kw::In) => {
                        self.pos += 1;
                        let values = self.list()?;
                        return self.finish(ok, start, Clause::In { key, values });
                    }
                    _ => return self.fail(OPERATOR),
                };
                let op_tok = self.advance();
                if op == CompareOp::Matches {
                    self.matches += 1;
                    if self.matches > MAX_MATCHES {
                        self.problem(ProblemKind::TooManyMatches, op_tok.span);
                        ok = false;
                    }
                }
                let value = self.string()?;
                if op == CompareOp::Matches && self.matches <= MAX_MATCHES {
                    self.patterns.push(value.clone());
                }
                Clause::Compare { key, op, value }
            }
            _ => return self.fail(CLAUSE_START),
        };
        self.finish(ok, start, clause)
    }

    fn finish(&self, ok: bool, start: Span, clause: Clause) -> Option<Expr> {
        let span = Span::new(start.start, self.prev_end());
        ok.then_some(Expr { kind: ExprKind::Clause(clause), span })
    }

    /// A key at the current token, or `None` (nothing consumed) when the
    /// token is not key-shaped. A key-shaped token that names no property
    /// is consumed, reported, and clears `ok`.
    fn key(&mut self, ok: &mut bool) -> Option<Key> {
        let tok = self.peek().clone();
        let text = self.text.get(tok.span.start as usize..tok.span.end as usize).unwrap_or("");
        let kind = match tok.kind {
            TokKind::Name if text.len() > MAX_KEY_CHARS => {
                self.problem(ProblemKind::KeyTooLong, tok.span);
                *ok = false;
                KeyKind::User("".into())
            }
            TokKind::Name => KeyKind::User(text.into()),
            TokKind::Dollar => match FixedKey::from_name(text) {
                Some(k) => KeyKind::Fixed(k),
                None => {
                    let suggestion =
                        FixedKey::ALL.into_iter().map(FixedKey::name).find(|n| n.eq_ignore_ascii_case(text));
                    self.problem(ProblemKind::UnknownFixedKey { key: text.to_owned(), suggestion }, tok.span);
                    *ok = false;
                    KeyKind::User("".into())
                }
            },
            _ => return None,
        };
        self.pos += 1;
        Some(Key { kind, span: tok.span })
    }

    fn string(&mut self) -> Option<Str> {
        let tok = self.peek().clone();
        match tok.kind {
            TokKind::Str(value) => {
                self.pos += 1;
                Some(Str { value, span: tok.span })
            }
            _ => self.fail(STRING),
        }
    }

    /// `"[" string ( "," string )* "]"`.
    fn list(&mut self) -> Option<Vec<Str>> {
        if !self.at(&TokKind::LBracket) {
            return self.fail("'['");
        }
        self.pos += 1;
        let mut items = vec![self.string()?];
        loop {
            match self.peek().kind {
                TokKind::Comma => {
                    self.pos += 1;
                    items.push(self.string()?);
                }
                TokKind::RBracket => {
                    self.pos += 1;
                    return Some(items);
                }
                _ => return self.fail("',' or ']'"),
            }
        }
    }
}
