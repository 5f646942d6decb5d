// The customer's saved addresses (`/api/v1/customers/me/addresses`): add, edit, delete, choose
// the default. A booking copies the address it was made for, so changing one here changes no
// booking already made.
import { addStrings, t } from "../shared/i18n.js";
import { currentPosition, fill, h, showError, toast, txt } from "../shared/ui.js";

const PATH = "/api/v1/customers/me/addresses";
// Where a new address's position starts when there is no other to start from: People's Square.
const SHANGHAI = { lat: 31.2304, lng: 121.4737 };
const FIELDS = ["label", "line", "city", "lat", "lng"];

export class AddressBook {
  /**
   * @param {import("../shared/hub.js").Hub} hub
   * @param {HTMLElement} root where the book goes (`#addresses`, `#address-add`, `#address-form`)
   * @param {(addresses: object[]) => void} onChange told the list after every change
   */
  constructor(hub, root, onChange) {
    this.hub = hub;
    this.onChange = onChange;
    this.addresses = [];
    this.editing = null; // the address in the form; null for a new one
    this.list = h("ul", { id: "addresses", class: "list" });
    this.form = h("form", { id: "address-form", class: "address-form", hidden: true });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#save();
    });
    const add = txt("button", "address.add", { id: "address-add", type: "button", class: "ghost", onclick: () => this.#edit(null) });
    fill(root, h("div", { class: "row spread" }, txt("h2", "me.addresses"), add), this.list, this.form);
  }

  /** The default address (or the first one), or null. */
  get home() {
    return this.addresses.find((a) => a.is_default) || this.addresses[0] || null;
  }

  async load() {
    const answer = await this.hub.api("GET", PATH);
    if (!answer.ok) return showError(answer.error);
    this.#changed(answer.data.items);
  }

  render() {
    if (!this.addresses.length) return fill(this.list, h("li", { class: "muted" }, t("address.none")));
    fill(
      this.list,
      this.addresses.map((a) =>
        h(
          "li",
          { class: "address", dataset: { addressId: a.id, default: String(a.is_default) } },
          h("div", { class: "row spread" }, h("strong", {}, a.label || t("address.no_label")), a.is_default ? h("span", { class: "pill" }, t("me.default")) : null),
          h("div", {}, [a.line, a.city].filter(Boolean).join(" · ")),
          h(
            "div",
            { class: "row" },
            txt("button", "address.edit", { type: "button", class: "ghost address-edit", onclick: () => this.#edit(a) }),
            a.is_default ? null : txt("button", "address.make_default", { type: "button", class: "ghost address-default", onclick: () => this.#makeDefault(a) }),
            txt("button", "address.delete", { type: "button", class: "ghost address-delete", onclick: () => this.#delete(a) }),
          ),
        ),
      ),
    );
    if (!this.form.hidden) this.#drawForm();
  }

  #changed(addresses) {
    this.addresses = addresses;
    this.render();
    this.onChange(addresses);
  }

  #edit(address) {
    this.editing = address;
    this.form.hidden = false;
    this.form.replaceChildren(); // nothing typed for another address is kept
    this.#drawForm();
    this.form.scrollIntoView({ block: "nearest" });
    this.form.querySelector("#address-line").focus();
  }

  #drawForm() {
    const a = this.editing;
    const start = a || this.home || SHANGHAI;
    const kept = (id) => this.form.querySelector(id)?.value; // typed before a redraw (a language switch)
    const field = (id, key, attrs) => h("label", { class: attrs.class || "" }, txt("span", key), h("input", { id, ...attrs, class: null, value: kept(`#${id}`) ?? attrs.value }));
    fill(
      this.form,
      txt("h3", a ? "address.edit_title" : "address.add_title"),
      field("address-label", "address.label", { value: a?.label ?? "", maxlength: 30, placeholder: t("address.label_hint") }),
      field("address-line", "address.line", { value: a?.line ?? "", maxlength: 200, required: true }),
      field("address-city", "address.city", { value: a?.city ?? "上海市", maxlength: 50 }),
      h(
        "div",
        { class: "row" },
        field("address-lat", "address.lat", { class: "grow", value: start.lat, type: "number", step: "any", min: -90, max: 90, required: true }),
        field("address-lng", "address.lng", { class: "grow", value: start.lng, type: "number", step: "any", min: -180, max: 180, required: true }),
      ),
      txt("button", "address.here", { id: "address-here", type: "button", class: "ghost", onclick: () => this.#here() }),
      a?.is_default
        ? null
        : h("label", { class: "inline" }, h("input", { id: "address-make-default", type: "checkbox" }), " ", txt("span", "address.as_default")),
      h("p", { id: "address-error", class: "error", hidden: true }),
      h(
        "div",
        { class: "row" },
        txt("button", "common.save", { id: "address-save", type: "submit", class: "primary" }),
        txt("button", "common.cancel", { id: "address-cancel", type: "button", class: "ghost", onclick: () => (this.form.hidden = true) }),
      ),
    );
  }

  async #here() {
    const position = await currentPosition();
    if (!position) return toast(t("address.no_position"), "error");
    this.form.querySelector("#address-lat").value = position.lat.toFixed(6);
    this.form.querySelector("#address-lng").value = position.lng.toFixed(6);
  }

  async #save() {
    const value = (id) => this.form.querySelector(id).value.trim();
    const body = {
      label: value("#address-label"),
      line: value("#address-line"),
      city: value("#address-city"),
      lat: Number(value("#address-lat")),
      lng: Number(value("#address-lng")),
    };
    if (this.form.querySelector("#address-make-default")?.checked) body.is_default = true;
    const save = this.form.querySelector("#address-save");
    save.disabled = true;
    const answer = this.editing
      ? await this.hub.api("PUT", `${PATH}/${this.editing.id}`, body)
      : await this.hub.api("POST", PATH, body, { idempotencyKey: crypto.randomUUID() });
    save.disabled = false;
    if (!answer.ok) return this.#refused(answer.error);
    this.form.hidden = true;
    toast(t("address.saved"));
    await this.load();
  }

  #refused(error) {
    const el = this.form.querySelector("#address-error");
    const detail = error.details?.[0];
    const field = [detail?.loc].flat().at(-1); // {loc: ["lat"], message} for a bad field
    el.hidden = false;
    el.dataset.code = error.code;
    el.dataset.field = FIELDS.includes(field) ? field : "";
    el.textContent = FIELDS.includes(field) ? t("address.bad_field", { field: t(`address.${field}`), message: detail.message }) : error.message;
  }

  async #makeDefault(address) {
    const answer = await this.hub.api("PUT", `${PATH}/${address.id}`, { is_default: true });
    if (!answer.ok) return showError(answer.error);
    toast(t("address.default_set", { label: address.label || address.line }));
    await this.load();
  }

  async #delete(address) {
    if (!confirm(t("address.delete_confirm", { label: address.label || address.line }))) return;
    const answer = await this.hub.api("DELETE", `${PATH}/${address.id}`);
    if (!answer.ok) return showError(answer.error);
    if (this.editing?.id === address.id) this.form.hidden = true;
    toast(t("address.deleted"));
    await this.load();
  }
}

addStrings({
  en: {
    "me.addresses": "Addresses",
    "me.default": "default",
    "address.none": "No saved address yet: add one to book.",
    "address.no_label": "Address",
    "address.add": "Add an address",
    "address.add_title": "New address",
    "address.edit_title": "Change the address",
    "address.edit": "Edit",
    "address.delete": "Delete",
    "address.make_default": "Make default",
    "address.label": "Name (home, parents…)",
    "address.label_hint": "Home",
    "address.line": "Street and number, building, floor",
    "address.city": "City",
    "address.lat": "Latitude",
    "address.lng": "Longitude",
    "address.here": "Use where I am now",
    "address.no_position": "The browser did not give a position: type it in.",
    "address.as_default": "Make it my default address",
    "address.saved": "Address saved.",
    "address.deleted": "Address deleted.",
    "address.default_set": "{label} is now your default address.",
    "address.delete_confirm": "Delete {label}? Bookings already made keep their address.",
    "address.bad_field": "{field}: {message}",
  },
  zh: {
    "me.addresses": "地址",
    "me.default": "默认",
    "address.none": "还没有保存的地址，添加一个才能预约。",
    "address.no_label": "地址",
    "address.add": "添加地址",
    "address.add_title": "新地址",
    "address.edit_title": "修改地址",
    "address.edit": "修改",
    "address.delete": "删除",
    "address.make_default": "设为默认",
    "address.label": "名称（家、父母家…）",
    "address.label_hint": "家",
    "address.line": "街道门牌、楼栋、楼层",
    "address.city": "城市",
    "address.lat": "纬度",
    "address.lng": "经度",
    "address.here": "使用我现在的位置",
    "address.no_position": "浏览器没有提供位置，请手动填写。",
    "address.as_default": "设为默认地址",
    "address.saved": "地址已保存。",
    "address.deleted": "地址已删除。",
    "address.default_set": "{label} 已设为默认地址。",
    "address.delete_confirm": "删除 {label}？已下的订单地址不变。",
    "address.bad_field": "{field}：{message}",
  },
});
