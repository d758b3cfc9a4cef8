#!/usr/bin/env node
// Fails when a function or method in a package's src is longer than MAX_LINES, unless it is listed in
// scripts/function-length-allow.json with a reason. A long function is a set of steps that have not been
// named yet; binding tables (one line per native export) are declarative and may stay long.
//
// Usage: node scripts/function-length.mjs [--list]   (--list prints every function over the limit, allowed or not)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const MAX_LINES = 80;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const allowFile = join(root, 'scripts', 'function-length-allow.json');

/** Every .ts file under packages/<name>/src, skipping declaration files. */
function sourceFiles() {
  const out = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|tsx|mts|cts)$/.test(entry.name) && !/\.d\.[mc]?ts$/.test(entry.name)) out.push(path);
    }
  };
  for (const pkg of readdirSync(join(root, 'packages'), { withFileTypes: true })) {
    if (!pkg.isDirectory()) continue;
    const src = join(root, 'packages', pkg.name, 'src');
    try {
      walk(src);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
  }
  return out.sort();
}

function propertyName(name) {
  if (!name) return undefined;
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) {
    return name.text;
  }
  return name.getText();
}

/** A readable, line-independent name: the chain of enclosing named scopes, e.g. `NCryptKeyStorage.#make`. */
function ownName(node) {
  if (ts.isFunctionDeclaration(node)) return node.name?.text ?? 'default';
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) {
    const prefix = ts.isGetAccessor(node) ? 'get ' : ts.isSetAccessor(node) ? 'set ' : '';
    return prefix + propertyName(node.name);
  }
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return propertyName(parent.name);
  }
  if (ts.isCallExpression(parent)) {
    const callee = parent.expression.getText();
    return `${callee.length > 30 ? `${callee.slice(0, 30)}…` : callee}(callback)`;
  }
  return '(anonymous)';
}

function scopeName(node) {
  if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) return node.name?.text ?? '(class)';
  if (ts.isModuleDeclaration(node)) return node.name.getText();
  return undefined;
}

function isFunctionLike(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessor(node) ||
    ts.isSetAccessor(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node)
  );
}

/** Functions with a body longer than MAX_LINES, as { file, name, lines, line }. */
export function longFunctions(files = sourceFiles()) {
  const found = [];
  for (const path of files) {
    const text = readFileSync(path, 'utf8');
    const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
    const file = relative(root, path).split('\\').join('/');
    const visit = (node, scope) => {
      let inner = scope;
      const named = scopeName(node);
      if (named) inner = [...scope, named];
      if (isFunctionLike(node) && node.body) {
        const name = [...scope, ownName(node)].join('.');
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = end - start + 1;
        if (lines > MAX_LINES) found.push({ file, name, lines, line: start + 1 });
        inner = [...scope, ownName(node)];
      }
      ts.forEachChild(node, (child) => visit(child, inner));
    };
    visit(source, []);
  }
  return found;
}

function main() {
  const allow = JSON.parse(readFileSync(allowFile, 'utf8')).allow;
  const key = (entry) => `${entry.file}#${entry.name}`;
  const allowed = new Map(allow.map((entry) => [key(entry), entry]));
  const problems = [];
  for (const entry of allow) {
    if (typeof entry.reason !== 'string' || entry.reason.trim() === '') {
      problems.push(`${key(entry)}: allow-list entry without a reason`);
    }
  }
  const found = longFunctions();
  const seen = new Set();
  for (const fn of found) {
    const k = key(fn);
    seen.add(k);
    if (process.argv.includes('--list')) console.log(`${fn.lines}\t${fn.file}:${fn.line}\t${fn.name}`);
    if (!allowed.has(k)) {
      problems.push(
        `${fn.file}:${fn.line} ${fn.name} is ${fn.lines} lines (limit ${MAX_LINES}): split it along its steps`,
      );
    }
  }
  for (const k of allowed.keys()) {
    if (!seen.has(k))
      problems.push(`${k}: listed in function-length-allow.json but not over ${MAX_LINES} lines; remove it`);
  }
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem);
    process.exit(1);
  }
  console.log(`function-length: ${found.length} allowed long function(s), none other over ${MAX_LINES} lines`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
