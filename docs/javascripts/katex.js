// Typeset the math that pymdownx.arithmatex (generic mode) leaves as \( ... \) and \[ ... \],
// with KaTeX served from this site (assets/katex/). Material's instant navigation swaps page
// bodies without a reload, so typesetting runs on every page change (document$).
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
