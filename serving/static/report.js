// The printable report's one button; kept in a file so the page needs no inline script.
"use strict";
document.getElementById("print")?.addEventListener("click", () => window.print());
