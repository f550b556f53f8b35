// Clicking a citation [n] in an answer shows that answer's sources and brings passage n into view.
// Written by hand: Gradio's chatbot has no hook for links inside messages.
document.addEventListener(
  "click",
  (event) => {
    const link = event.target.closest && event.target.closest("a[href*='#cite-']");
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const [, turn, n] = link.getAttribute("href").match(/#cite-(\d+)-(\d+)/) || [];
    if (!turn) return;
    const tab = document.querySelector("#tab-sources-button");
    if (tab) tab.click();
    setTimeout(() => {
      document.querySelectorAll(".answer-sources").forEach((group) => {
        group.style.display = group.id === `answer-${turn}` ? "" : "none";
      });
      document.querySelectorAll(".source-card.active").forEach((c) => c.classList.remove("active"));
      const card = document.getElementById(`cite-${turn}-${n}`);
      if (card) {
        card.classList.add("active");
        card.scrollIntoView({ behavior: "smooth", block: "center" });
      }
    }, 60);
  },
  true,
);

// Clicking a month on the Articles tab's timeline writes it into the hidden #timeline-month box;
// its change event sets the chat's period filter (ui.handlers). Gradio has no click-a-bar event.
document.addEventListener("click", (event) => {
  const bar = event.target.closest && event.target.closest(".timeline-bar");
  if (!bar || bar.disabled) return;
  const box = document.querySelector("#timeline-month textarea, #timeline-month input");
  if (!box) return;
  document.querySelectorAll(".timeline-bar.active").forEach((b) => b.classList.remove("active"));
  bar.classList.add("active");
  box.value = bar.dataset.month;
  box.dispatchEvent(new Event("input", { bubbles: true }));
});
