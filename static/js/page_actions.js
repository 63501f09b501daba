// Behaviour that pages used to put in inline handler attributes, which the Content-Security-
// Policy forbids: <button data-print> prints the page; <select data-autosubmit> submits its form.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.submit();
});
