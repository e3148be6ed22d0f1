// The printable report's one button; kept out of the page so the CSP can forbid inline script.
document.getElementById("print-button")?.addEventListener("click", () => window.print());
