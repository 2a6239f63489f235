// A "Print" button without an inline handler (the Content-Security-Policy allows only our own scripts).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
