// Test driver for tests/live-wp.php (?driver=send-template&template=<option text>&values=<JSON list>):
// once the real picker lists the template, chooses it, types the values like a user, keeps the
// preview it showed in body[data-preview] and submits the form.
(() => {
  const query = new URLSearchParams(location.search);
  const wanted = query.get('template');
  const values = JSON.parse(query.get('values') || '[]');
  const wait = setInterval(() => {
    const select = document.querySelector('.coex-template-form__select');
    const option = select ? [...select.options].find((o) => o.textContent === wanted) : undefined;
    if (!option) return;
    clearInterval(wait);
    select.value = option.value;
    select.dispatchEvent(new Event('change'));
    document.querySelectorAll('.coex-template-form__value').forEach((input, i) => {
      input.value = values[i] ?? '';
      input.dispatchEvent(new Event('input'));
    });
    document.body.dataset.preview = document.querySelector('.coex-template-form__preview')?.textContent ?? '';
    select.form.requestSubmit();
  }, 50);
})();
